//! `multipart/form-data` (RFC 7578) for uploads: the body is read whole (it is bounded by the
//! route's body limit) and split at the boundary; each part's name, file name and type come
//! from its `Content-Disposition` and `Content-Type` headers.

use bytes::Bytes;

/// One part of a form.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// The boundary of a `multipart/form-data` content type; `None` for any other type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// The parts of `body`, in order. The error says what is malformed.
pub fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    if boundary.is_empty() || boundary.len() > 200 {
        return Err("the multipart boundary is missing or too long".into());
    }
    let delimiter = format!("--{boundary}").into_bytes();
    let mut at = find(body, &delimiter, 0).ok_or("the body does not contain its boundary")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(parts); // the closing delimiter
        }
        // The rest of the delimiter line (optional whitespace), then the part's headers.
        let line_end = find(body, b"\r\n", at).ok_or("a multipart delimiter line does not end")?;
        let headers_end = find(body, b"\r\n\r\n", line_end).ok_or("a part's headers do not end")?;
        let headers = std::str::from_utf8(&body[line_end + 2..headers_end]).map_err(|_| "a part's headers are not UTF-8")?;
        let data_start = headers_end + 4;
        let mut next = delimiter.clone();
        next.splice(0..0, *b"\r\n");
        let data_end = find(body, &next, data_start).ok_or("the body ends inside a part (no closing boundary)")?;
        parts.push(part(headers, body.slice(data_start..data_end))?);
        at = data_end + next.len();
    }
}

fn part(headers: &str, data: Bytes) -> Result<Part, String> {
    let (mut name, mut filename, mut content_type) = (None, None, None);
    for line in headers.split("\r\n").filter(|l| !l.trim().is_empty()) {
        let (key, value) = line.split_once(':').ok_or_else(|| format!("the part header `{line}` has no `:`"))?;
        if key.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        } else if key.trim().eq_ignore_ascii_case("content-disposition") {
            for param in value.split(';').skip(1) {
                let Some((k, v)) = param.split_once('=') else { continue };
                let v = v.trim();
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v).replace("\\\"", "\"");
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    _ => {}
                }
            }
        }
    }
    let name = name.ok_or("a part has no name (Content-Disposition: form-data; name=\"…\")")?;
    Ok(Part { name, filename, content_type, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_split_at_the_boundary_with_their_headers() {
        assert_eq!(boundary("multipart/form-data; boundary=\"abc 1\"").as_deref(), Some("abc 1"));
        assert_eq!(boundary("Multipart/Form-Data;boundary=xyz").as_deref(), Some("xyz"));
        assert_eq!(boundary("application/json"), None);
        let body = Bytes::from_static(
            b"preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage\r\n\
              --xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\
              \xFF\xD8\r\n--xy\x00\r\n--xyz--\r\n",
        );
        let parts = parse(&body, "xyz").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), &parts[0].data[..], parts[0].filename.as_deref()), ("type", &b"image"[..], None));
        assert_eq!((parts[1].name.as_str(), parts[1].filename.as_deref()), ("file", Some("a \"b\".jpg")));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(&parts[1].data[..], b"\xFF\xD8\r\n--xy\x00", "bytes that only look like a boundary stay in the file");
        assert!(parse(&Bytes::from_static(b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end"), "xyz").is_err());
        assert!(parse(&Bytes::from_static(b"nothing here"), "xyz").is_err());
        assert!(parse(&Bytes::from_static(b"--xyz\r\nX: y\r\n\r\nv\r\n--xyz--"), "xyz").is_err(), "a part needs a name");
    }
}
