#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests: the real `tessera` binary, driven over HTTP and its
//! command line. All in one test binary, each test independent of order.

mod api_admin;
mod api_sessions;
mod api_signin;
mod api_tokens;
mod browser;
mod challenges;
mod cli;
mod client_address;
mod crash;
mod crash_db;
mod crash_load;
mod dns_peer;
mod email_codes;
mod enumeration;
mod flood;
mod guard_rails;
mod inproc;
mod mail;
mod metrics_listener;
mod no_store;
mod org_export;
mod org_nodes;
mod org_policy;
mod org_test_policy;
mod orgs;
mod page_forms;
mod peers;
mod postgres;
mod recovery_race;
mod required_page;
mod secrets_at_rest;
mod security_headers;
mod signup_enumeration;
mod sms;
mod sms_clock;
mod smtp_peer;
mod support;
mod twostep_clock;
mod twostep_peers;
mod unenroll_sessions;
mod webauthn_api;
mod webauthn_support;
