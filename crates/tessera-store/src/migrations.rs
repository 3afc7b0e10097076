//! Migrations, embedded in the binary so a server needs no files besides
//! its data directory.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

fn migrator(files: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub(crate) fn sqlite() -> Migrator {
    migrator(&[
        (
            1,
            "foundation",
            include_str!("../migrations/sqlite/0001_foundation.sql"),
        ),
        (
            2,
            "two_step",
            include_str!("../migrations/sqlite/0002_two_step.sql"),
        ),
        (
            3,
            "lean_indexes",
            include_str!("../migrations/sqlite/0003_lean_indexes.sql"),
        ),
        (
            5,
            "methods",
            include_str!("../migrations/sqlite/0005_methods.sql"),
        ),
        (
            6,
            "known_devices",
            include_str!("../migrations/sqlite/0006_known_devices.sql"),
        ),
        (
            7,
            "api_tokens",
            include_str!("../migrations/sqlite/0007_api_tokens.sql"),
        ),
        (
            8,
            "email_codes",
            include_str!("../migrations/sqlite/0008_email_codes.sql"),
        ),
        (
            9,
            "organizations",
            include_str!("../migrations/sqlite/0009_organizations.sql"),
        ),
        (
            10,
            "test_policy",
            include_str!("../migrations/sqlite/0010_test_policy.sql"),
        ),
    ])
}

pub(crate) fn postgres() -> Migrator {
    migrator(&[
        (
            1,
            "foundation",
            include_str!("../migrations/postgres/0001_foundation.sql"),
        ),
        (
            2,
            "two_step",
            include_str!("../migrations/postgres/0002_two_step.sql"),
        ),
        (
            3,
            "lean_indexes",
            include_str!("../migrations/postgres/0003_lean_indexes.sql"),
        ),
        (
            5,
            "methods",
            include_str!("../migrations/postgres/0005_methods.sql"),
        ),
        (
            6,
            "known_devices",
            include_str!("../migrations/postgres/0006_known_devices.sql"),
        ),
        (
            7,
            "api_tokens",
            include_str!("../migrations/postgres/0007_api_tokens.sql"),
        ),
        (
            8,
            "email_codes",
            include_str!("../migrations/postgres/0008_email_codes.sql"),
        ),
        (
            9,
            "organizations",
            include_str!("../migrations/postgres/0009_organizations.sql"),
        ),
        (
            10,
            "test_policy",
            include_str!("../migrations/postgres/0010_test_policy.sql"),
        ),
    ])
}
