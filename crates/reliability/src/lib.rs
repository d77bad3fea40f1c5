//! Fault, failover and soak tests against real Redis servers; see tests/ and docs/RELIABILITY.md.
