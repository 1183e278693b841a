"""Verifies captured Kirim deliveries with the official Standard Webhooks library.

Usage: python verify_standard_webhooks.py deliveries.json
The file holds {"secret": "whsec_...", "deliveries": [{"headers": {...}, "body": "..."}]}.
Exits non-zero (with the reason) if any delivery does not verify.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        captured = json.load(f)
    webhook = Webhook(captured["secret"])
    for delivery in captured["deliveries"]:
        payload = webhook.verify(delivery["body"], delivery["headers"])
        assert payload["type"], payload
    print(f"verified {len(captured['deliveries'])} deliveries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
