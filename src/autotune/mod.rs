//! `nettune autotune`: the closed-loop daemon (see [`decide`] for the decision engine).

pub mod decide;
