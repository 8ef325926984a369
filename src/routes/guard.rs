//! Middleware that admits only requests with a valid, unrevoked access token.
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::extract::{access_token_of, PresentedToken};
use crate::auth::Auth;
use crate::error::ApiError;

/// JSON routes: the caller is put in request extensions; without one the answer is a 401.
pub async fn require_access(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let auth = req.app_data::<web::Data<Auth>>().cloned().ok_or(ApiError::Internal)?;
    let token = match access_token_of(req.request()) {
        Some(PresentedToken::Bearer(t) | PresentedToken::Cookie(t)) => t,
        None => return Err(ApiError::MissingToken.into()),
    };
    let caller = auth.authenticate(&token).await.map_err(ApiError::from)?;
    req.extensions_mut().insert(caller);
    next.call(req).await
}

/// Admin routes: behind `require_access`, and only for the `admin` role.
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_admin = req.extensions().get::<crate::auth::Caller>().is_some_and(|c| c.is_admin());
    if !is_admin {
        return Err(ApiError::Forbidden("administrators only").into());
    }
    next.call(req).await
}
