//! CSV import: a header row naming the columns (`phone`, `name`, `email`, `address`,
//! `birthday`; any other column becomes a custom field), then one contact per row. Rows are
//! numbered as a spreadsheet shows them (the header is row 1), so a result points at the line
//! to fix. Exports from spreadsheets often carry a byte-order mark or use `;` (or tabs) between
//! values; both are recognised.

use std::collections::BTreeMap;

use super::Actor;
use super::contacts::{ContactFields, FieldError, ItemOutcome, MAX_CUSTOM_FIELDS, write_batch};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// Rows in one import.
pub const MAX_ROWS: usize = 10_000;
/// An import may be larger than other requests (`http.body_limit_bytes`): 10,000 rows with
/// custom fields run to a few megabytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One data row: its number in the file and what it holds.
pub struct Row {
    pub row: u64,
    pub item: Result<ContactFields, FieldError>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Phone,
    Name,
    Email,
    Address,
    Birthday,
    Custom,
}

fn column(name: &str) -> Column {
    match name.to_lowercase().as_str() {
        "phone" => Column::Phone,
        "name" => Column::Name,
        "email" => Column::Email,
        "address" => Column::Address,
        // The reference API spells it so.
        "birthday" | "birth_day" => Column::Birthday,
        _ => Column::Custom,
    }
}

fn invalid_csv(message: impl Into<String>) -> ApiError {
    ApiError::field("body", message)
}

/// `,` unless the header row uses `;` or tabs instead.
fn delimiter(body: &[u8]) -> u8 {
    let first = body.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |d: u8| first.iter().filter(|b| **b == d).count();
    [b',', b';', b'\t'].into_iter().max_by_key(|d| (count(*d), *d == b',')).unwrap_or(b',')
}

/// Reads the whole file; a file that cannot be a contact list (no header, no phone or name
/// column, too many rows) is one error, a bad row is that row's result.
pub fn parse(body: &[u8]) -> ApiResult<Vec<Row>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter(body)).has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(body);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(invalid_csv(format!("the header row cannot be read: {e}"))),
        None => return Err(invalid_csv("the file is empty; its first row names the columns, e.g. phone,name,email")),
    };
    let mut names: Vec<(String, Column)> = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| invalid_csv("the header row is not UTF-8 text; save the file as UTF-8"))?.trim();
        if name.is_empty() {
            return Err(invalid_csv(format!("column {} of the header row has no name; name every column", i + 1)));
        }
        if names.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(invalid_csv(format!("the header row names `{name}` twice; keep one such column")));
        }
        names.push((name.to_owned(), column(name)));
    }
    for (needed, what) in [(Column::Phone, "phone"), (Column::Name, "name")] {
        if !names.iter().any(|(_, c)| *c == needed) {
            return Err(invalid_csv(format!(
                "the header row has no `{what}` column; the first row names the columns, e.g. phone,name,email"
            )));
        }
    }
    if names.iter().filter(|(_, c)| *c == Column::Custom).count() > MAX_CUSTOM_FIELDS {
        return Err(invalid_csv(format!("the file has more than {MAX_CUSTOM_FIELDS} custom columns")));
    }
    let mut lines = Lines { body, offset: 0, line: 1 };
    let mut rows = Vec::new();
    for record in records {
        if rows.len() == MAX_ROWS {
            return Err(invalid_csv(format!("the file has more than {MAX_ROWS} rows; split it into several imports")));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map_or(0, |p| lines.at(p.byte()));
                rows.push(Row { row, item: Err(FieldError { field: "row".into(), message: format!("this row cannot be read: {e}") }) });
                continue;
            }
        };
        let row = record.position().map_or(0, |p| lines.at(p.byte()));
        // A line of separators only (",,,") is an empty row a spreadsheet left behind.
        if record.iter().all(<[u8]>::is_empty) {
            continue;
        }
        rows.push(Row { row, item: fields(&names, &record) });
    }
    Ok(rows)
}

/// Line numbers of records, counted from their first byte: the reader's own count starts at
/// the blank lines it skips before a record. Records come in order, so counting goes on from
/// the previous one.
struct Lines<'a> {
    body: &'a [u8],
    offset: usize,
    line: u64,
}

impl Lines<'_> {
    fn at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(self.body.len());
        while start < self.body.len() && matches!(self.body[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= self.offset {
            self.line += self.body[self.offset..start].iter().filter(|b| **b == b'\n').count() as u64;
            self.offset = start;
        }
        self.line
    }
}

fn fields(names: &[(String, Column)], record: &csv::ByteRecord) -> Result<ContactFields, FieldError> {
    if record.len() > names.len() {
        return Err(FieldError {
            field: "row".into(),
            message: format!(
                "this row has {} values but the header names {} columns; quote values that contain the separator",
                record.len(),
                names.len()
            ),
        });
    }
    let mut out = ContactFields { custom: BTreeMap::new(), ..ContactFields::default() };
    for ((name, column), raw) in names.iter().zip(record.iter()) {
        let value = std::str::from_utf8(raw)
            .map_err(|_| FieldError { field: name.clone(), message: format!("`{name}` is not UTF-8 text; save the file as UTF-8") })?
            .to_owned();
        match column {
            Column::Phone => out.phone = value,
            Column::Name => out.name = value,
            Column::Email => out.email = Some(value),
            Column::Address => out.address = Some(value),
            Column::Birthday => out.birthday = Some(value),
            Column::Custom if value.is_empty() => {}
            Column::Custom => {
                out.custom.insert(name.clone(), value);
            }
        }
    }
    Ok(out)
}

/// Parses and writes an import in one transaction; results carry each row's number.
pub async fn import(state: &AppState, auth: &Actor, body: &[u8], upsert: bool) -> ApiResult<Vec<(u64, ItemOutcome)>> {
    let rows = parse(body)?;
    if rows.is_empty() {
        return Err(invalid_csv("the file has a header row but no contacts; add one row per contact"));
    }
    let numbers: Vec<u64> = rows.iter().map(|r| r.row).collect();
    let outcomes = write_batch(state, auth, rows.into_iter().map(|r| r.item).collect(), upsert).await?;
    Ok(numbers.into_iter().zip(outcomes).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(row: &Row) -> &ContactFields {
        row.item.as_ref().expect("a parsed row")
    }

    #[test]
    fn rows_are_numbered_as_in_the_file_and_extra_columns_are_custom() {
        let csv = "\u{feff}Phone,Name,email,Company,birth_day\n\
                   60123456789,Siti,siti@example.com,Acme,1990-01-31\n\
                   \n\
                   \"0123456780\",\"Tan, Ah Kow\",,,\n\
                   ,,,,\n\
                   60129999999,Too,many,values,here,!\n";
        let rows = parse(csv.as_bytes()).expect("parsed");
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), vec![2, 4, 6]);
        let siti = ok(&rows[0]);
        assert_eq!((siti.phone.as_str(), siti.birthday.as_deref()), ("60123456789", Some("1990-01-31")));
        assert_eq!(siti.custom.get("Company").map(String::as_str), Some("Acme"));
        let tan = ok(&rows[1]);
        assert_eq!((tan.name.as_str(), tan.email.as_deref(), tan.custom.len()), ("Tan, Ah Kow", Some(""), 0));
        assert_eq!(rows[2].item.as_ref().err().map(|e| e.field.as_str()), Some("row"));
    }

    #[test]
    fn semicolons_and_tabs_are_recognised() {
        for csv in ["phone;name\n60123456789;Siti\n", "phone\tname\n60123456789\tSiti\n"] {
            let rows = parse(csv.as_bytes()).expect("parsed");
            assert_eq!(ok(&rows[0]).name, "Siti", "{csv:?}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_contact_list_is_refused_whole() {
        for (csv, says) in
            [("", "empty"), ("name,email\nSiti,a@b.co\n", "`phone`"), ("phone,name,phone\n", "twice"), ("phone,,name\n", "no name")]
        {
            let e = parse(csv.as_bytes()).err().expect("refused");
            assert!(e.detail.message.contains(says), "{csv:?}: {}", e.detail.message);
            assert_eq!(e.detail.field.as_deref(), Some("body"));
        }
        let mut big = String::from("phone,name\n");
        for i in 0..=MAX_ROWS {
            big.push_str(&format!("6012{i:07},n\n"));
        }
        assert!(parse(big.as_bytes()).err().expect("too many").detail.message.contains("10000"));
    }

    #[test]
    fn bad_bytes_fail_their_row_only() {
        let mut csv = b"phone,name\n60123456789,Si".to_vec();
        csv.extend_from_slice(&[0xff, 0xfe]);
        csv.extend_from_slice(b"\n60123456780,Ali\n");
        let rows = parse(&csv).expect("parsed");
        assert_eq!(rows[0].item.as_ref().err().map(|e| e.field.as_str()), Some("name"));
        assert_eq!(ok(&rows[1]).name, "Ali");
    }
}
