//! The reference products' own API shapes, mapped onto Kirim's model. Translation only: what
//! a mapping produces goes through the same services (and the same validation) as the native API.

pub mod wablas;
