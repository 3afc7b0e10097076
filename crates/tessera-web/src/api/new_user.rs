//! The body of `POST /api/v1/admin/users`, and how the document shows it:
//! as one of two shapes, a person (who may be given a first password) or
//! a service account (which never has one), since one flat object could
//! not say that a password and `kind: service` do not go together.

use super::dto::RoleName;
use super::fields::{DisplayName, EmailAddress, NewPassword};
use serde::Deserialize;
use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// What the handler reads: both shapes at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    /// `human` (default) or `service`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `member` (default), `org-admin` or `sysadmin`.
    #[serde(default)]
    pub role: Option<String>,
    /// An initial password (humans only).
    #[serde(default)]
    pub password: Option<String>,
}

/// A new account: a person or a service account.
pub struct NewUser;

impl PartialSchema for NewUser {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .description(Some(
                    "A person (`kind` absent or `human`), who may be given a \
                     first password, or a service account (`kind: service`), \
                     which never has one.",
                ))
                .item(Ref::from_schema_name("NewPerson"))
                .item(Ref::from_schema_name("NewServiceAccount"))
                .build(),
        ))
    }
}

impl ToSchema for NewUser {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NewUser")
    }
}

/// `human`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum HumanKind {
    Human,
}

/// `service`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ServiceKind {
    Service,
}

/// Only `null`: a field a shape does not take, which may still be sent
/// empty.
pub struct Null;

impl PartialSchema for Null {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new().schema_type(Type::Null).build(),
        ))
    }
}

impl ToSchema for Null {}

/// A person's account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NewPerson {
    #[schema(value_type = EmailAddress)]
    email: String,
    #[serde(default)]
    #[schema(value_type = DisplayName)]
    display_name: String,
    /// `human`, the default.
    #[serde(default)]
    #[schema(value_type = Option<HumanKind>)]
    kind: Option<String>,
    /// `member` (default), `org-admin` or `sysadmin`.
    #[serde(default)]
    #[schema(value_type = Option<RoleName>)]
    role: Option<String>,
    /// A first password (optional).
    #[serde(default)]
    #[schema(value_type = Option<NewPassword>)]
    password: Option<String>,
}

/// A service account: no password, ever (it uses API tokens).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NewServiceAccount {
    #[schema(value_type = EmailAddress)]
    email: String,
    #[serde(default)]
    #[schema(value_type = DisplayName)]
    display_name: String,
    #[schema(value_type = ServiceKind)]
    kind: String,
    /// `member` (default), `org-admin` or `sysadmin`.
    #[serde(default)]
    #[schema(value_type = Option<RoleName>)]
    role: Option<String>,
    /// Absent or `null`.
    #[serde(default)]
    #[schema(value_type = Null)]
    password: Option<String>,
}
