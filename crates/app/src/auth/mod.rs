//! Who is asking, and may they: passwords, sessions, CSRF, login throttling.

pub mod cache;
pub mod csrf;
pub mod password;
pub mod session;
pub mod throttle;

pub use password::Passwords;
pub use session::{authenticate, Authenticated, Presented};
