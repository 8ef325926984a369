//! PostgreSQL's rotation of a live refresh token in one statement: the session's row lock, the
//! compare-and-set claim, the sliding expiry, the successor and the audit event are one round
//! trip instead of eight (BEGIN, five statements, COMMIT), which is what the database's CPU
//! was spent on under load. Everything else (a token already rotated, an ended session, a
//! session from before status lists) matches no row here and takes the general path.
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use super::sessions::SessionRow;
use super::users::UserRow;

/// What the statement writes besides the claim.
pub struct LiveRotation<'a> {
    pub token_hash: &'a str,
    pub now: i64,
    /// The successor's lifetime; the session's absolute end still caps it.
    pub refresh_ttl: i64,
    pub successor_id: &'a str,
    pub successor_hash: &'a str,
    pub audit: AuditValues<'a>,
}

/// The audit event's values; its user, actor and detail come from the session in the statement.
pub struct AuditValues<'a> {
    pub id: &'a str,
    pub at_us: i64,
    pub kind: &'a str,
    /// Prepended to the user id (`Actor::User`'s rendering).
    pub actor_prefix: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

// The session is locked first (`FOR UPDATE OF s`, which `claimed` needs before it can update
// the token), as every other transaction that changes a session does, so this cannot deadlock
// with them. A concurrent rotation of the same token waits on that lock, then finds the token
// claimed (`used_at` is re-checked on the row's latest version) and matches nothing.
const STATEMENT: &str = "
WITH owner AS (
    SELECT s.id FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
    WHERE t.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
      AND s.absolute_expires_at > $2 AND s.status_idx >= 0
    FOR UPDATE OF s
), claimed AS (
    UPDATE refresh_tokens t SET used_at = $2 FROM owner
    WHERE t.token_hash = $1 AND t.session_id = owner.id
      AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $2
    RETURNING t.session_id
), moved AS (
    UPDATE sessions s SET last_used_at = $2, expires_at = LEAST($2 + $3, s.absolute_expires_at)
    FROM claimed WHERE s.id = claimed.session_id
    RETURNING s.*
), successor AS (
    INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at, used_at, revoked_at)
    SELECT $4, moved.id, $5, $2, moved.expires_at, NULL, NULL FROM moved
), audited AS (
    INSERT INTO audit_events (id, at_us, kind, user_id, actor, ip, user_agent, detail)
    SELECT $6, $7, $8, moved.user_id, $9 || moved.user_id, NULLIF($10, ''), NULLIF($11, ''),
           'session=' || moved.id
    FROM moved
)
SELECT moved.id, moved.user_id, moved.user_agent, moved.ip, moved.created_at, moved.last_used_at,
       moved.expires_at, moved.absolute_expires_at, moved.revoked_at, moved.status_list,
       moved.status_idx, moved.device,
       u.username AS u_username, u.email AS u_email, u.password_hash AS u_password_hash,
       u.role AS u_role, u.token_version AS u_token_version, u.created_at AS u_created_at,
       u.failed_logins AS u_failed_logins, u.last_failed_login_at AS u_last_failed_login_at
FROM moved JOIN users u ON u.id = moved.user_id";

/// Rotates a live token of a live session: the session as it is now and its user, or `None`
/// when the token is not claimable this way (nothing was written).
pub fn rotate(conn: &mut PgConnection, r: &LiveRotation) -> QueryResult<Option<(SessionRow, UserRow)>> {
    let row: Option<Row> = Statement(r).get_result(conn).optional()?;
    Ok(row.map(Row::split))
}

/// `STATEMENT` with its values bound. Unlike `sql_query`, it has a static query id, so diesel
/// prepares it once per connection instead of parsing and planning it on every rotation.
struct Statement<'a>(&'a LiveRotation<'a>);

impl QueryId for Statement<'_> {
    type QueryId = Statement<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for Statement<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl RunQueryDsl<PgConnection> for Statement<'_> {}

impl QueryFragment<Pg> for Statement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Each `$n` of the text becomes a bind of the n-th value (diesel numbers them again).
        let mut rest = STATEMENT;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[at + 1..at + 1 + digits].parse().map_err(|_| unknown_placeholder())?;
            self.bind(n, &mut out)?;
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl<'a> Statement<'a> {
    fn bind<'b>(&'b self, n: usize, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (r, audit) = (self.0, &self.0.audit);
        match n {
            1 => out.push_bind_param::<Text, _>(r.token_hash),
            2 => out.push_bind_param::<BigInt, _>(&r.now),
            3 => out.push_bind_param::<BigInt, _>(&r.refresh_ttl),
            4 => out.push_bind_param::<Text, _>(r.successor_id),
            5 => out.push_bind_param::<Text, _>(r.successor_hash),
            6 => out.push_bind_param::<Text, _>(audit.id),
            7 => out.push_bind_param::<BigInt, _>(&audit.at_us),
            8 => out.push_bind_param::<Text, _>(audit.kind),
            9 => out.push_bind_param::<Text, _>(audit.actor_prefix),
            10 => out.push_bind_param::<Text, _>(audit.ip),
            11 => out.push_bind_param::<Text, _>(audit.user_agent),
            _ => Err(unknown_placeholder()),
        }
    }
}

fn unknown_placeholder() -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError("live rotation: unknown placeholder".into())
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    user_agent: String,
    #[diesel(sql_type = Text)]
    ip: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    last_used_at: i64,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
    #[diesel(sql_type = BigInt)]
    absolute_expires_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    revoked_at: Option<i64>,
    #[diesel(sql_type = Text)]
    status_list: String,
    #[diesel(sql_type = BigInt)]
    status_idx: i64,
    #[diesel(sql_type = Text)]
    device: String,
    #[diesel(sql_type = Text)]
    u_username: String,
    #[diesel(sql_type = Text)]
    u_email: String,
    #[diesel(sql_type = Text)]
    u_password_hash: String,
    #[diesel(sql_type = Text)]
    u_role: String,
    #[diesel(sql_type = BigInt)]
    u_token_version: i64,
    #[diesel(sql_type = BigInt)]
    u_created_at: i64,
    #[diesel(sql_type = Integer)]
    u_failed_logins: i32,
    #[diesel(sql_type = Nullable<BigInt>)]
    u_last_failed_login_at: Option<i64>,
}

impl Row {
    fn split(self) -> (SessionRow, UserRow) {
        let user = UserRow {
            id: self.user_id.clone(),
            username: self.u_username,
            email: self.u_email,
            password_hash: self.u_password_hash,
            role: self.u_role,
            token_version: self.u_token_version,
            created_at: self.u_created_at,
            failed_logins: self.u_failed_logins,
            last_failed_login_at: self.u_last_failed_login_at,
        };
        let session = SessionRow {
            id: self.id,
            user_id: self.user_id,
            user_agent: self.user_agent,
            ip: self.ip,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            expires_at: self.expires_at,
            absolute_expires_at: self.absolute_expires_at,
            revoked_at: self.revoked_at,
            status_list: self.status_list,
            status_idx: self.status_idx,
            device: self.device,
        };
        (session, user)
    }
}
