//! The sandbox WhatsApp network (being written).
