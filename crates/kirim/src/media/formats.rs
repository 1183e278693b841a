//! Which files each kind of media may be, and what a file really is.
//!
//! The formats and extensions are those WhatsApp takes and the reference gateways list
//! (image: jpg, jpeg, png, gif; video: mp4, mpeg, 3gp; audio: mp3, ogg, mpga, aac, amr, m4a;
//! document: doc, docx, pdf, odt, csv, ppt, pptx, xls, xlsx, txt, zip …; sticker: webp).
//! A file is recognised by its first bytes ("magic"), never by what the client says it is:
//! a declared MIME type or file name that disagrees with the bytes is refused, naming the
//! field, so a PDF sent as `image/jpeg` never reaches WhatsApp as a broken image.

use kirim_core::media::MediaKind;

/// One file format Kirim accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub mime: &'static str,
    /// What a person would call it, for error messages.
    pub name: &'static str,
    /// File name extensions, lowercase, the usual one first.
    pub exts: &'static [&'static str],
    pub kind: MediaKind,
}

const fn f(mime: &'static str, name: &'static str, exts: &'static [&'static str], kind: MediaKind) -> Format {
    Format { mime, name, exts, kind }
}

use kirim_core::media::MediaKind::{Audio, Document, Image, Sticker, Video};

pub const JPEG: Format = f("image/jpeg", "a JPEG image", &["jpg", "jpeg"], Image);
pub const PNG: Format = f("image/png", "a PNG image", &["png"], Image);
pub const GIF: Format = f("image/gif", "a GIF image", &["gif"], Image);
pub const WEBP: Format = f("image/webp", "a WebP image", &["webp"], Sticker);
pub const MP4: Format = f("video/mp4", "an MP4 video", &["mp4"], Video);
pub const THREE_GP: Format = f("video/3gpp", "a 3GP video", &["3gp"], Video);
pub const MPEG: Format = f("video/mpeg", "an MPEG video", &["mpeg", "mpg"], Video);
pub const OGG: Format = f("audio/ogg", "an Ogg audio file", &["ogg", "oga"], Audio);
pub const OPUS: Format = f("audio/ogg; codecs=opus", "an Opus voice recording", &["ogg", "opus", "oga"], Audio);
pub const MP3: Format = f("audio/mpeg", "an MP3 audio file", &["mp3", "mpga"], Audio);
pub const AAC: Format = f("audio/aac", "an AAC audio file", &["aac"], Audio);
pub const AMR: Format = f("audio/amr", "an AMR audio file", &["amr"], Audio);
pub const M4A: Format = f("audio/mp4", "an M4A audio file", &["m4a"], Audio);
pub const PDF: Format = f("application/pdf", "a PDF document", &["pdf"], Document);
pub const DOC: Format = f("application/msword", "a Word document", &["doc"], Document);
pub const XLS: Format = f("application/vnd.ms-excel", "an Excel spreadsheet", &["xls"], Document);
pub const PPT: Format = f("application/vnd.ms-powerpoint", "a PowerPoint presentation", &["ppt"], Document);
pub const DOCX: Format =
    f("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a Word document", &["docx"], Document);
pub const XLSX: Format =
    f("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "an Excel spreadsheet", &["xlsx"], Document);
pub const PPTX: Format =
    f("application/vnd.openxmlformats-officedocument.presentationml.presentation", "a PowerPoint presentation", &["pptx"], Document);
pub const ODT: Format = f("application/vnd.oasis.opendocument.text", "an OpenDocument text", &["odt"], Document);
pub const ODS: Format = f("application/vnd.oasis.opendocument.spreadsheet", "an OpenDocument spreadsheet", &["ods"], Document);
pub const ODP: Format = f("application/vnd.oasis.opendocument.presentation", "an OpenDocument presentation", &["odp"], Document);
pub const ZIP: Format = f("application/zip", "a ZIP archive", &["zip"], Document);
pub const TXT: Format = f("text/plain", "a text file", &["txt"], Document);
pub const CSV: Format = f("text/csv", "a CSV file", &["csv"], Document);

/// Every format, grouped by kind.
pub const ALL: &[Format] = &[
    JPEG, PNG, GIF, WEBP, MP4, THREE_GP, MPEG, OPUS, OGG, MP3, AAC, AMR, M4A, PDF, DOC, XLS, PPT, DOCX, XLSX, PPTX, ODT, ODS, ODP, ZIP,
    TXT, CSV,
];

/// The formats a file with these first bytes may be, most likely first; empty when it is
/// nothing Kirim accepts. Containers shared by several formats (ZIP for Office files, the
/// OLE compound file for old Office, ISO media for MP4 and M4A, plain text for TXT and CSV)
/// give all of them; the declared type or the file name then picks one.
pub fn sniff(bytes: &[u8]) -> Vec<Format> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return vec![JPEG];
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return vec![PNG];
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return vec![GIF];
    }
    if starts(b"RIFF") && at(8, b"WEBP") {
        return vec![WEBP];
    }
    if at(4, b"ftyp") {
        let brand = bytes.get(8..12).unwrap_or_default();
        return match brand {
            b"M4A " | b"M4B " => vec![M4A, MP4],
            b if b.starts_with(b"3g") => vec![THREE_GP, MP4],
            _ => vec![MP4, M4A, THREE_GP],
        };
    }
    if starts(&[0, 0, 1, 0xBA]) || starts(&[0, 0, 1, 0xB3]) {
        return vec![MPEG];
    }
    if starts(b"OggS") {
        // The first page holds the codec's header: `OpusHead` for Opus (voice notes).
        let opus = bytes.get(..64.min(bytes.len())).is_some_and(|head| head.windows(8).any(|w| w == b"OpusHead"));
        return if opus { vec![OPUS, OGG] } else { vec![OGG] };
    }
    if starts(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && matches!(bytes[1] & 0xF6, 0xF2 | 0xF4)) {
        // An ID3 tag, or an MPEG audio frame (layer III or II).
        return vec![MP3];
    }
    if bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xF6 == 0xF0 {
        return vec![AAC]; // an ADTS frame
    }
    if starts(b"#!AMR") {
        return vec![AMR];
    }
    if starts(b"%PDF-") {
        return vec![PDF];
    }
    if starts(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return vec![DOC, XLS, PPT];
    }
    if starts(b"PK\x03\x04") {
        return zip_formats(bytes);
    }
    if is_text(bytes) {
        return vec![TXT, CSV];
    }
    Vec::new()
}

/// An OpenDocument file names its type in a first, uncompressed entry called `mimetype`;
/// an Office file is a ZIP whose entries start with `[Content_Types].xml` or a `word/` … folder.
fn zip_formats(bytes: &[u8]) -> Vec<Format> {
    let head = &bytes[..bytes.len().min(4096)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if has(b"mimetypeapplication/vnd.oasis.opendocument.text") {
        return vec![ODT, ZIP];
    }
    if has(b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet") {
        return vec![ODS, ZIP];
    }
    if has(b"mimetypeapplication/vnd.oasis.opendocument.presentation") {
        return vec![ODP, ZIP];
    }
    if has(b"word/") {
        return vec![DOCX, ZIP];
    }
    if has(b"xl/") {
        return vec![XLSX, ZIP];
    }
    if has(b"ppt/") {
        return vec![PPTX, ZIP];
    }
    vec![ZIP, DOCX, XLSX, PPTX, ODT, ODS, ODP]
}

/// UTF-8 without NUL bytes or other control characters than tab, line breaks and form feed.
/// Only the start is looked at; a character cut in two at its end is fine.
fn is_text(bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let head = &bytes[..bytes.len().min(8192)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() && head.len() < bytes.len() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => return false,
    };
    text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

/// The formats of `kind`, in words, for error messages ("JPEG, PNG or GIF").
pub fn accepted(kind: MediaKind) -> String {
    let mut exts: Vec<&str> = Vec::new();
    for format in ALL.iter().filter(|f| f.kind == kind) {
        for ext in format.exts {
            if !exts.contains(ext) {
                exts.push(ext);
            }
        }
    }
    exts.join(", ")
}

/// `image/JPEG; charset=x` → `image/jpeg`: the part a format is matched on.
pub fn essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The extension of a file name, lowercase, if it has one.
pub fn extension(filename: &str) -> Option<String> {
    let (stem, ext) = filename.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// A MIME type a client may reasonably send for this format: the type itself, or a
/// well-known alias (`image/jpg`, `audio/mp3`, `audio/opus`, `application/x-zip-compressed` …).
/// `application/octet-stream` says nothing and matches every format.
pub fn mime_matches(format: &Format, declared: &str) -> bool {
    let declared = essence(declared);
    if declared == "application/octet-stream" || declared == essence(format.mime) {
        return true;
    }
    let aliases: &[&str] = match format.mime {
        "image/jpeg" => &["image/jpg", "image/pjpeg"],
        "audio/mpeg" => &["audio/mp3", "audio/mpeg3", "audio/x-mpeg", "audio/mpga"],
        "audio/ogg; codecs=opus" => &["audio/ogg", "audio/opus"],
        "audio/ogg" => &["application/ogg", "audio/x-ogg"],
        "audio/aac" => &["audio/x-aac", "audio/aacp"],
        "audio/mp4" => &["audio/m4a", "audio/x-m4a", "video/mp4"],
        "video/mp4" => &["audio/mp4"],
        "video/3gpp" => &["video/3gp", "audio/3gpp"],
        "application/zip" => &["application/x-zip-compressed", "application/x-zip"],
        "text/csv" => &["text/plain", "application/csv", "text/comma-separated-values"],
        "text/plain" => &["text/csv"],
        _ => &[],
    };
    aliases.contains(&declared.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_name_the_format() {
        let cases: &[(&[u8], &str)] = &[
            (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", "image/jpeg"),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png"),
            (b"GIF89a\x01\x00", "image/gif"),
            (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
            (b"\0\0\0\x18ftypisom\0\0\x02\0", "video/mp4"),
            (b"\0\0\0\x18ftyp3gp4\0\0\x02\0", "video/3gpp"),
            (b"\0\0\0\x18ftypM4A \0\0\x02\0", "audio/mp4"),
            (b"OggS\0\x02\0\0\0\0\0\0\0\0\x01\x02\x03\x04\0\0\0\0\x05\x06\x07\x08\x01\x13OpusHead\x01\x01", "audio/ogg; codecs=opus"),
            (b"OggS\0\x02\0\0\0\0\0\0\0\0\x01\x02\x03\x04\0\0\0\0\x05\x06\x07\x08\x01\x1e\x01vorbis", "audio/ogg"),
            (b"ID3\x04\0\0\0\0\0\0", "audio/mpeg"),
            (b"\xFF\xFB\x90\x00", "audio/mpeg"),
            (b"\xFF\xF1\x50\x80", "audio/aac"),
            (b"#!AMR\n", "audio/amr"),
            (b"%PDF-1.7\n", "application/pdf"),
            (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0", "application/msword"),
            (b"PK\x03\x04\x14\0\0\0\x08\0[Content_Types].xml....word/document.xml", DOCX.mime),
            (b"PK\x03\x04\x14\0\0\0\0\0mimetypeapplication/vnd.oasis.opendocument.text", ODT.mime),
            (b"PK\x03\x04\x14\0\0\0\x08\0photos/a.jpg", "application/zip"),
            (b"name,phone\nSiti,+60123456789\n", "text/plain"),
        ];
        for (bytes, mime) in cases {
            assert_eq!(sniff(bytes).first().map(|f| f.mime), Some(*mime), "{bytes:?}");
        }
        assert!(sniff(b"").is_empty());
        assert!(sniff(b"\x00\x01\x02binary\xff\xfe").is_empty(), "unknown binary is nothing Kirim accepts");
        assert!(sniff(b"MZ\x90\x00\x03\x00").is_empty(), "an executable is not a document");
    }

    #[test]
    fn names_and_types_are_compared_loosely_where_clients_differ() {
        assert!(mime_matches(&JPEG, "image/jpg"));
        assert!(mime_matches(&JPEG, "IMAGE/JPEG; charset=binary"));
        assert!(mime_matches(&OPUS, "audio/ogg"));
        assert!(mime_matches(&PDF, "application/octet-stream"));
        assert!(!mime_matches(&PDF, "image/jpeg"));
        assert!(!mime_matches(&PNG, "image/jpeg"));
        assert_eq!(extension("Invoice.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension(".profile"), None);
        assert_eq!(extension("README"), None);
        assert_eq!(accepted(MediaKind::Image), "jpg, jpeg, png, gif");
    }
}
