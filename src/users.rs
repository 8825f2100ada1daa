//! `switchboard users create`: how the first admin is made.

use std::io::{BufRead, IsTerminal};

use switchboard_app::{check_password, check_username, App, AppConfig, Clock, Role, Store};

use crate::args::UserCreateArgs;
use crate::failure::Failure;
use crate::runtime;
use crate::serve::{database_url, open_store};

/// Creates a user.
pub fn create(args: UserCreateArgs) -> Result<(), Failure> {
    check_username(&args.name).map_err(|e| Failure::usage(e.message))?;
    let password = read_password(&args.name)?;
    check_password(&password).map_err(|e| Failure::usage(e.message))?;
    let role = if args.admin { Role::Admin } else { Role::User };
    let url = database_url(args.database, args.data);
    runtime::single()?.block_on(async {
        let store = open_store(&url).await?;
        let result = insert(&store, &args.name, password, role).await;
        store.close().await;
        let user = result?;
        println!("created {} '{}' (id {})", user.role, user.username, user.id);
        Ok(())
    })
}

async fn insert(
    store: &Store,
    name: &str,
    password: String,
    role: Role,
) -> Result<switchboard_app::User, Failure> {
    let app =
        App::new(store.clone(), AppConfig::default(), Clock::system()).map_err(Failure::runtime)?;
    let hash = app
        .hash_password(password)
        .await
        .map_err(|e| Failure::runtime(e.message))?;
    store
        .create_user(name, &hash, role, app.clock().now())
        .await
        .map_err(|e| match e {
            switchboard_store::StoreError::UsernameTaken => {
                Failure::runtime(format!("username '{name}' is taken"))
            }
            e => Failure::runtime(format!("cannot create the user: {e}")),
        })
}

/// Asks twice at a terminal (without echo); otherwise takes the first line of standard input.
fn read_password(name: &str) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let ask = |prompt: &str| {
            rpassword::prompt_password(prompt)
                .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))
        };
        let first = ask(&format!("Password for {name}: "))?;
        let again = ask("Again: ")?;
        if first != again {
            return Err(Failure::usage("the passwords differ"));
        }
        return Ok(first);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Failure::usage("no password on standard input"));
    }
    Ok(password)
}
