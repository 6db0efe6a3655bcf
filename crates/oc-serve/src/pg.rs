//! The Postgres wire protocol (pgwire through datafusion-postgres), with our own handlers in
//! front: password check at start-up, the read-only guard on every statement, and queries run
//! with the server's limits. Session statements (SET of client options, SHOW, transactions)
//! go to datafusion-postgres' own hooks.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{
    ScramServerAuth, ScramServerAuthWaitingForClientFinal,
};
use datafusion_postgres::pgwire::api::auth::sasl::{
    SCRAM_SHA_256_METHOD, SCRAM_SHA_256_PLUS_METHOD,
};
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, LoginInfo, Password, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator, Type,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::process_socket;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, SinkExt, StreamExt, stream};
use tokio::time::Instant;

use crate::State;
use crate::auth::PgMethod;
use crate::error::ServeError;
use crate::exec;
use crate::guard::{self, Kind};

/// The statement type of datafusion-postgres (its hooks downcast the portal store to it).
type DfStmt = (String, Option<(Statement, LogicalPlan)>);

/// An error as the client should read it, with the SQLSTATE of its kind.
fn pg_error(e: ServeError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        e.sqlstate().to_string(),
        e.to_string(),
    )))
}

fn df_error(e: datafusion::error::DataFusionError) -> PgWireError {
    pg_error(ServeError::from(e))
}

pub struct PgServer {
    service: Arc<PgService>,
    startup: Arc<PgStartup>,
}

impl PgServer {
    pub fn new(state: Arc<State>) -> PgWireResult<PgServer> {
        let startup = PgStartup::new(state.clone())?;
        let ctx = Arc::new(state.base.clone());
        let inner = Arc::new(DfSessionService::new(ctx.clone()));
        let parser = Arc::new(GuardedParser {
            inner: inner.query_parser(),
        });
        Ok(PgServer {
            service: Arc::new(PgService {
                inner,
                parser,
                state: state.clone(),
            }),
            startup: Arc::new(startup),
        })
    }
}

impl PgWireServerHandlers for PgServer {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
}

/// Serves until the process stops. Each connection runs in its own task: a failing query only
/// ends that query. With TLS configured, the TLS negotiation (SSLRequest or direct) is
/// pgwire's, and a client that does not ask for it is refused at start-up.
pub async fn serve(state: Arc<State>, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let handlers = Arc::new(PgServer::new(state.clone()).map_err(std::io::Error::other)?);
    let permits = (state.max_connections > 0)
        .then(|| Arc::new(tokio::sync::Semaphore::new(state.max_connections)));
    let tls = state.tls.as_ref().map(|t| t.acceptor.clone());
    loop {
        let (socket, from) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, a reset before accept: the listener is fine.
                tracing::warn!("postgres accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match &permits {
            None => None,
            Some(p) => match p.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::warn!(
                        "postgres connection from {from} refused: {} connections already (--max-connections)",
                        state.max_connections
                    );
                    continue;
                }
            },
        };
        let (handlers, tls) = (handlers.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = process_socket(socket, tls, handlers).await {
                tracing::debug!("postgres connection from {from}: {e}");
            }
        });
    }
}

/// Where a connection's password exchange stands (kept in the connection's extensions).
enum Login {
    /// The client was asked for its password in clear.
    Cleartext,
    /// The client was offered SCRAM; its first message is awaited.
    ScramOffered,
    /// The server's first message was sent; the client's proof is awaited.
    ScramFirstSent(Box<ScramServerAuthWaitingForClientFinal>),
}

type LoginState = std::sync::Mutex<Option<Login>>;

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message,
    )))
}

/// Start-up: SCRAM-SHA-256 (with channel binding, -PLUS, over TLS) or, for users whose
/// password is held as a `sha256:` digest, the password in clear; none with `--no-auth`.
/// The answer to a failure is the same for an unknown user and a wrong password.
pub struct PgStartup {
    state: Arc<State>,
    params: DefaultServerParameterProvider,
    pids: RandomPidSecretKeyGenerator,
    scram: ScramServerAuth,
}

#[async_trait]
impl StartupHandler for PgStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = client
            .session_extensions()
            .get_or_insert_with(|| LoginState::new(None));
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.state.tls.is_some() && !client.is_secure() {
                    return Err(fatal(
                        "28000",
                        "this server only accepts TLS connections: connect with sslmode=require (or verify-full with its certificate)".into(),
                    ));
                }
                let Some(auth) = &self.state.auth else {
                    return self.accept(client).await;
                };
                let user = LoginInfo::from_client_info(client)
                    .user()
                    .unwrap_or_default()
                    .to_string();
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let (ask, step) = match auth.pg_method(&user) {
                    PgMethod::Cleartext => (Authentication::CleartextPassword, Login::Cleartext),
                    PgMethod::Scram => {
                        let mut methods = Vec::new();
                        if client.is_secure() {
                            methods.push(SCRAM_SHA_256_PLUS_METHOD.to_string());
                        }
                        methods.push(SCRAM_SHA_256_METHOD.to_string());
                        (Authentication::SASL(methods), Login::ScramOffered)
                    }
                };
                *lock(&login) = Some(step);
                client
                    .send(PgWireBackendMessage::Authentication(ask))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => {
                let Some(auth) = &self.state.auth else {
                    return Ok(());
                };
                let user = LoginInfo::from_client_info(client)
                    .user()
                    .unwrap_or_default()
                    .to_string();
                let from = client.socket_addr();
                let step = lock(&login).take();
                match step {
                    Some(Login::Cleartext) => {
                        self.throttled(from)?;
                        let pwd = msg.into_password()?;
                        if auth.check_user(&user, &pwd.password) {
                            tracing::info!(user, client = %from, "postgres login (password)");
                            return self.accept(client).await;
                        }
                        return Err(self.failed(user, from));
                    }
                    Some(Login::ScramOffered) => {
                        self.throttled(from)?;
                        let first = msg.into_sasl_initial_response()?;
                        let secure = client.is_secure();
                        let method = first.auth_method.as_str();
                        if !(method == SCRAM_SHA_256_METHOD
                            || secure && method == SCRAM_SHA_256_PLUS_METHOD)
                        {
                            return Err(PgWireError::UnsupportedSASLAuthMethod(method.to_string()));
                        }
                        let data = first.data.as_deref().unwrap_or_default();
                        let key = auth.scram_key(&user);
                        let (server_first, waiting) = self.scram.on_client_first_message(
                            data,
                            Password::new(Some(key.salt), key.salted),
                        )?;
                        *lock(&login) = Some(Login::ScramFirstSent(Box::new(waiting)));
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLContinue(server_first.into()),
                            ))
                            .await?;
                    }
                    Some(Login::ScramFirstSent(waiting)) => {
                        let last = msg.into_sasl_response()?;
                        match waiting.on_client_final_message(&last.data) {
                            Ok(server_final) => {
                                client
                                    .send(PgWireBackendMessage::Authentication(
                                        Authentication::SASLFinal(server_final.into()),
                                    ))
                                    .await?;
                                tracing::info!(user, client = %from, "postgres login (SCRAM)");
                                return self.accept(client).await;
                            }
                            Err(PgWireError::InvalidPassword(_)) => {
                                return Err(self.failed(user, from));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    None => return Err(PgWireError::InvalidSASLState),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn lock(login: &LoginState) -> std::sync::MutexGuard<'_, Option<Login>> {
    login.lock().unwrap_or_else(|p| p.into_inner())
}

impl PgStartup {
    fn new(state: Arc<State>) -> PgWireResult<PgStartup> {
        let mut scram = ScramServerAuth::new();
        scram.set_iterations(crate::auth::SCRAM_ITERATIONS);
        if let Some(tls) = &state.tls {
            // Channel binding (tls-server-end-point): a SCRAM exchange cannot be relayed by
            // a man in the middle holding another certificate.
            scram.configure_certificate(&tls.cert_pem)?;
        }
        Ok(PgStartup {
            state,
            params: DefaultServerParameterProvider::default(),
            pids: RandomPidSecretKeyGenerator::default(),
            scram,
        })
    }

    /// Refuses at once while the client's address has too many recent failures.
    fn throttled(&self, from: SocketAddr) -> PgWireResult<()> {
        match self.state.throttle.wait(from.ip()) {
            None => Ok(()),
            Some(wait) => {
                tracing::warn!(client = %from, "postgres login refused: too many failed logins");
                Err(fatal(
                    "28000",
                    format!(
                        "too many failed logins from your address: try again in {} s",
                        wait.as_secs().max(1)
                    ),
                ))
            }
        }
    }

    fn failed(&self, user: String, from: SocketAddr) -> PgWireError {
        self.state.throttle.failed(from.ip());
        tracing::warn!(user, client = %from, "postgres authentication failed");
        PgWireError::InvalidPassword(user)
    }

    async fn accept<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (pid, key) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, key);
        finish_authentication(client, &self.params).await
    }
}

/// Parses for the extended protocol: the guard first, then datafusion-postgres' parser and
/// planner, then the read-only check of the plan.
pub struct GuardedParser {
    inner: Arc<Parser>,
}

pub(crate) fn parse_and_check(sql: &str) -> PgWireResult<Vec<(Statement, Kind)>> {
    // Before any parser: a too deep expression would overflow the stack while parsed,
    // rewritten or planned.
    oc_sql::shape::check(sql).map_err(|e| pg_error(ServeError::TooComplex(e.to_string())))?;
    let stmts = PostgresCompatibilityParser::new().parse(sql).map_err(|e| {
        pg_error(
            guard::explain_parse_failure(sql)
                .unwrap_or_else(|| ServeError::BadRequest(e.to_string())),
        )
    })?;
    stmts
        .into_iter()
        .map(|s| guard::check(&s).map(|k| (s, k)).map_err(pg_error))
        .collect()
}

#[async_trait]
impl QueryParser for GuardedParser {
    type Statement = DfStmt;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let checked = parse_and_check(sql)?;
        let parsed = self.inner.parse_sql(client, sql, types).await?;
        if let (Some((_, Kind::Query)), Some((_, Some((_, plan))))) = (checked.first(), &parsed) {
            exec::verify_plan(plan).map_err(pg_error)?;
        }
        Ok(parsed)
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.inner.get_result_schema(stmt, column_format)
    }
}

pub struct PgService {
    inner: Arc<DfSessionService>,
    parser: Arc<GuardedParser>,
    state: Arc<State>,
}

impl PgService {
    /// Runs a planned query in a context of its own (memory pool) and streams the rows in the
    /// client's format, under the time limit.
    async fn run(
        &self,
        client: &(impl ClientInfo + ?Sized),
        plan: LogicalPlan,
        format: &Format,
    ) -> PgWireResult<Response> {
        let started = Instant::now();
        let limits = &self.state.limits;
        let ctx = self.query_context().map_err(pg_error)?;
        let df = ctx.execute_logical_plan(plan).await.map_err(df_error)?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let fields = Arc::new(arrow_schema_to_pg_fields(
            df.schema().as_arrow(),
            format,
            Some(options),
        )?);
        let batches = exec::stream(df, limits, started).await.map_err(pg_error)?;
        let f = fields.clone();
        let rows = batches
            .map(
                move |b| -> Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> {
                    match b {
                        Ok(b) => encode_recordbatch(f.clone(), b),
                        Err(e) => Box::new(std::iter::once(Err(pg_error(exec::stream_error(&e))))),
                    }
                },
            )
            .flat_map(stream::iter);
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    fn query_context(&self) -> Result<SessionContext, ServeError> {
        exec::query_context(&self.state.base, &self.state.limits)
    }

    async fn plan(&self, sql: &str) -> PgWireResult<LogicalPlan> {
        let ctx = &self.state.base;
        let df = ctx
            .sql_with_options(sql, oc_sql::read_only())
            .await
            .map_err(df_error)?;
        Ok(df.logical_plan().clone())
    }
}

#[async_trait]
impl SimpleQueryHandler for PgService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Every statement is checked before any runs: a refused one stops the whole request.
        let checked = parse_and_check(query)?;
        if checked.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut out = Vec::new();
        for (stmt, kind) in checked {
            let sql = stmt.to_string();
            match kind {
                Kind::Query => {
                    let plan = self.plan(&sql).await?;
                    out.push(self.run(&*client, plan, &Format::UnifiedText).await?);
                }
                Kind::Session => {
                    out.extend(SimpleQueryHandler::do_query(&*self.inner, client, &sql).await?)
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ExtendedQueryHandler for PgService {
    type Statement = DfStmt;
    type QueryParser = GuardedParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (_, parsed) = &portal.statement.statement;
        let Some((stmt, plan)) = parsed else {
            return Ok(Response::EmptyQuery);
        };
        // Checked at parse time already; checked again so no path skips the guard.
        match guard::check(stmt).map_err(pg_error)? {
            Kind::Session => {
                ExtendedQueryHandler::do_query(&*self.inner, client, portal, max_rows).await
            }
            Kind::Query => {
                let plan = bind(&self.parser, portal, plan)?;
                exec::verify_plan(&plan).map_err(pg_error)?;
                self.run(&*client, plan, &portal.result_column_format).await
            }
        }
    }
}

/// Replaces `$1…$n` by the bound values, typed as the statement was described to the client.
fn bind(
    parser: &GuardedParser,
    portal: &Portal<DfStmt>,
    plan: &LogicalPlan,
) -> PgWireResult<LogicalPlan> {
    let wire = parser.get_parameter_types(&portal.statement.statement)?;
    let inferred: HashMap<String, Option<DataType>> =
        plan.get_parameter_types().map_err(df_error)?;
    let mut ordered: Vec<(u32, Option<DataType>)> = inferred
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches('$').parse().unwrap_or(u32::MAX), v))
        .collect();
    ordered.sort_by_key(|(k, _)| *k);
    let inferred: Vec<Option<&DataType>> = ordered.iter().map(|(_, t)| t.as_ref()).collect();
    let wire: Vec<Option<&Type>> = wire.iter().map(Some).collect();
    let values = deserialize_parameters_with_server_types(portal, &inferred, &wire)?;
    plan.clone()
        .replace_params_with_values(&values)
        .map_err(df_error)
}
