//! Renderers: they turn findings and captures into text or JSON and decide nothing.

pub mod json;
pub mod text;
