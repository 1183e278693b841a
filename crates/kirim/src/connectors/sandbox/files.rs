//! Files people send to sandbox devices, hosted the way WhatsApp's media servers host them:
//! the message carries a reference (`MediaContent::id`), and the bytes are fetched only when
//! the app asks (`Connector::download_media`). Kept in `<state_dir>/files`, named by their
//! SHA-256, so they outlive the process like the rest of the network.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// Prefix of a sandbox file reference.
const PREFIX: &str = "sbxf_";

pub(super) struct FileHost {
    dir: PathBuf,
}

impl FileHost {
    pub fn new(state_dir: &std::path::Path) -> Self {
        Self { dir: state_dir.join("files") }
    }

    /// Stores `bytes` and returns their reference and SHA-256 (hex).
    pub async fn put(&self, bytes: Vec<u8>) -> std::io::Result<(String, String)> {
        let sha = hex::encode(Sha256::digest(&bytes));
        let reference = format!("{PREFIX}{sha}");
        let (dir, path) = (self.dir.clone(), self.dir.join(&reference));
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let partial = dir.join(format!(".partial-{}", rand::random::<u64>()));
            std::fs::write(&partial, &bytes)?;
            std::fs::rename(&partial, &path)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok((reference, sha))
    }

    /// The bytes behind `reference`; `None` for a reference this network never gave out.
    pub async fn get(&self, reference: &str) -> std::io::Result<Option<Vec<u8>>> {
        let well_formed = reference.strip_prefix(PREFIX).is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !well_formed {
            return Ok(None);
        }
        match tokio::fs::read(self.dir.join(reference)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
