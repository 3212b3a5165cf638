//! Renderers: they turn findings, plans, transactions and captures into text or JSON and
//! decide nothing.

pub mod json;
pub mod nagios;
pub mod rollback;
pub mod text;
pub mod tune;
