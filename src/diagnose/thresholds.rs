//! Every threshold the rules use, in one table to review. Values are starting points from
//! public practice (DESIGN §4); each says what it compares and its unit.
