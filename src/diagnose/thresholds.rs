//! Every threshold the rules use, in one table to review. Values are starting points from
//! public practice (DESIGN §4); each says what it compares and its unit.

// ---- softnet / nic / irq / rps (rules in softnet.rs, nic.rs, irq.rs) ----

// ---- tcp / udp / conntrack / system / config (rules in tcp.rs, udp.rs, conntrack.rs,
//      system.rs, config.rs) ----
