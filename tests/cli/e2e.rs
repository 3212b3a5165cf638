//! Real faults in namespaces the test creates, asserted through `nettune check --json`.
