//! The web base every handler stands on: the [`state::AppState`] handlers reach, who is
//! asking ([`caller`]: tokens, sessions with CSRF, the demo visitor), the cookies, the one
//! error shape ([`error`]) and request [`input`], [`outbound`] targets refused when saved,
//! what an [`audience`] may see, versions and `If-Match` ([`precondition`]), the throttles,
//! the status-page cache and the badge key. Nothing here serves a route of its own.

pub mod audience;
pub mod badge_key;
pub mod caller;
pub mod cookies;
pub mod demo;
pub mod error;
pub mod input;
pub mod outbound;
pub mod page_domains;
pub mod precondition;
pub mod state;
pub mod status_cache;
pub mod throttle;
pub mod visitor_gate;

pub use caller::{Caller, Via};
pub use error::{ApiError, ApiResult};
pub use state::AppState;
