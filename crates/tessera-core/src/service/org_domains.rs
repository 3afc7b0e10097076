//! Domains an organization claims and proves through DNS. A claim answers
//! a token to publish as the TXT record `tessera-verification=<token>` at
//! the domain; verification looks it up with the configured resolver. A
//! sysadmin may mark a domain verified without DNS (air-gapped installs).
//! Once verified, the human accounts whose email is in the domain are
//! managed by the organization.

use super::{Core, OrgAdmin, RequestContext};
use crate::audit::AuditKind;
use crate::error::CoreError;
use crate::org::{
    DnsError, DomainClaim, DomainVerification, TXT_PREFIX, VerifiedBy, normalize_domain,
};
use crate::secrets::random_token;
use crate::store::StoreError;

/// Bytes of randomness in a domain token: 128 bits.
const DOMAIN_TOKEN_BYTES: usize = 16;

impl Core {
    /// Claims a domain; the answer holds the TXT value to publish.
    pub async fn claim_domain(
        &self,
        admin: &OrgAdmin,
        domain: &str,
        ctx: &RequestContext,
    ) -> Result<DomainClaim, CoreError> {
        let domain = normalize_domain(domain).map_err(CoreError::Invalid)?;
        let claim = DomainClaim {
            org: admin.org(),
            domain,
            token: random_token(self.secrets.as_ref(), DOMAIN_TOKEN_BYTES),
            created_at: self.clock.now(),
            verified_at: None,
            verified_by: None,
        };
        self.store.claim_domain(&claim).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                CoreError::Conflict("This organization has claimed that domain already.")
            }
            other => other.into(),
        })?;
        self.audit_org(
            admin,
            AuditKind::OrgDomainClaimed,
            None,
            ctx,
            serde_json::json!({ "domain": claim.domain }),
        )
        .await;
        Ok(claim)
    }

    pub async fn org_domains(&self, admin: &OrgAdmin) -> Result<Vec<DomainClaim>, CoreError> {
        Ok(self.store.domains(admin.org()).await?)
    }

    /// Verifies a claimed domain: by its TXT record, or, for a sysadmin
    /// with `without_dns`, by their word.
    pub async fn verify_domain(
        &self,
        admin: &OrgAdmin,
        domain: &str,
        without_dns: bool,
        ctx: &RequestContext,
    ) -> Result<DomainClaim, CoreError> {
        let domain = normalize_domain(domain).map_err(CoreError::Invalid)?;
        let claim = self.domain_claim(admin, &domain).await?;
        if claim.verified_at.is_some() {
            return Ok(claim);
        }
        let by = if without_dns {
            if !admin.is_sysadmin() {
                return Err(CoreError::Forbidden(
                    "Only a sysadmin may mark a domain verified without DNS.",
                ));
            }
            VerifiedBy::Admin
        } else {
            self.check_txt(&claim).await?;
            VerifiedBy::Dns
        };
        match self
            .store
            .verify_domain(admin.org(), &domain, by, self.clock.now())
            .await?
        {
            DomainVerification::Verified => {}
            DomainVerification::AlreadyVerified => return self.domain_claim(admin, &domain).await,
            DomainVerification::NotClaimed => return Err(CoreError::NotFound("domain")),
            DomainVerification::TakenByOther => {
                return Err(CoreError::Conflict(
                    "Another organization has verified this domain.",
                ));
            }
        }
        self.audit_org(
            admin,
            AuditKind::OrgDomainVerified,
            None,
            ctx,
            serde_json::json!({ "domain": domain, "by": by.as_str() }),
        )
        .await;
        self.domain_claim(admin, &domain).await
    }

    /// Drops a claim; the accounts it managed are no longer managed.
    pub async fn remove_domain(
        &self,
        admin: &OrgAdmin,
        domain: &str,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        let domain = normalize_domain(domain).map_err(CoreError::Invalid)?;
        if !self.store.remove_domain(admin.org(), &domain).await? {
            return Err(CoreError::NotFound("domain"));
        }
        self.audit_org(
            admin,
            AuditKind::OrgDomainRemoved,
            None,
            ctx,
            serde_json::json!({ "domain": domain }),
        )
        .await;
        Ok(())
    }

    async fn domain_claim(&self, admin: &OrgAdmin, domain: &str) -> Result<DomainClaim, CoreError> {
        self.store
            .domains(admin.org())
            .await?
            .into_iter()
            .find(|d| d.domain == domain)
            .ok_or(CoreError::NotFound("domain"))
    }

    /// Whether the domain publishes this claim's token.
    async fn check_txt(&self, claim: &DomainClaim) -> Result<(), CoreError> {
        let Some(dns) = &self.dns else {
            return Err(CoreError::Invalid(
                "This server has no DNS resolver; a sysadmin can mark the domain verified without DNS."
                    .into(),
            ));
        };
        let expected = claim.txt_value();
        let not_found = || {
            CoreError::Invalid(format!(
                "No TXT record at {} holds {expected:?}. Publish it and try again; DNS changes can take a while to reach every server.",
                claim.domain
            ))
        };
        let records = match dns.txt(&claim.domain).await {
            Ok(r) => r,
            Err(DnsError::NoRecords) => return Err(not_found()),
            Err(DnsError::Failed(e)) => {
                tracing::warn!(domain = %claim.domain, error = %e, "TXT lookup failed");
                return Err(CoreError::Invalid(format!(
                    "The DNS lookup of {} failed ({e}); try again later.",
                    claim.domain
                )));
            }
        };
        // Only records of ours are compared; the token is not a secret
        // (it is published), so a plain comparison is fine.
        if records
            .iter()
            .map(|r| r.trim())
            .any(|r| r.starts_with(TXT_PREFIX) && r == expected)
        {
            Ok(())
        } else {
            Err(not_found())
        }
    }
}
