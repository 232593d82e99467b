//! `dockgate check`: checks compose projects before deploy — embedded with the built-in
//! library (or a bundle / policy directory), or through a server's `CheckCompose` — and
//! writes a report (text, JSON, SARIF, JUnit, GitHub annotations).
//!
//! Exit codes: 0 passed (clean or warnings only), 1 findings fail the check (`deny`, or
//! `warn` too with `--fail-on warn`), 2 usage or input errors (every input error is in the
//! report with its position, and on stderr).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use dockgate::check::projects::{self, Loaded, Shared};
use dockgate::check::report::relativize;
use dockgate::check::{self, Evaluated, FileIssue, Level, ProjectReport, Report, remote};
use dockgate::client::{ClientTls, connect};
use dockgate::policy::{EngineOptions, PolicyEngine};
use dockgate::report::{self, Format};
use dockgate::server::pb;

use super::PolicyArgs;

/// Check compose projects against the policies, before deploy.
#[derive(clap::Args)]
#[command(after_help = "Exit codes: 0 passed, 1 findings fail the check, 2 usage or input error.")]
pub struct Args {
    /// Compose file(s) of one project, merged in order (default: compose.yaml & co. in the
    /// current directory or its parents, as `docker compose` finds them).
    #[arg(short = 'f', long = "file", conflicts_with_all = ["paths", "recursive"])]
    files: Vec<PathBuf>,
    /// Projects to check: a directory (its compose file and override) or a compose file.
    /// Several may be given; each is a project of its own.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Check every compose project under the PATHs (default: the current directory): each
    /// directory holding a compose file is one project.
    #[arg(short = 'r', long)]
    recursive: bool,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Entrypoints to decide with when building --policies (`pkg/rule`, repeatable; default
    /// `dockgate/main/decision`).
    #[arg(short = 'e', long = "entrypoint", requires = "policies")]
    entrypoints: Vec<String>,
    /// Check through a dockgate server's CheckCompose instead of embedded:
    /// http://HOST:PORT, https://HOST:PORT or unix:///PATH.
    #[arg(long, value_name = "URI", conflicts_with_all = ["bundle", "policies", "profile"])]
    server: Option<String>,
    /// CA certificate of the server (PEM), for https.
    #[arg(long, requires = "server")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM), for mTLS.
    #[arg(long, requires_all = ["server", "key"])]
    cert: Option<PathBuf>,
    /// Client key (PEM), for mTLS.
    #[arg(long, requires_all = ["server", "cert"])]
    key: Option<PathBuf>,
    /// Project name (one project only; default: COMPOSE_PROJECT_NAME, the file's `name:`,
    /// the directory name).
    #[arg(short = 'p', long)]
    project_name: Option<String>,
    /// Environment file(s) instead of <project dir>/.env.
    #[arg(long = "env-file")]
    env_files: Vec<PathBuf>,
    /// Enable a compose profile (repeatable; default: COMPOSE_PROFILES).
    #[arg(long = "compose-profile", value_name = "NAME")]
    compose_profiles: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report to this file instead of standard output (the summary line still
    /// goes to standard error).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Which findings fail the check.
    #[arg(long, value_enum, default_value = "deny")]
    fail_on: FailOn,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FailOn {
    /// Findings that deny.
    Deny,
    /// Findings that deny or warn.
    Warn,
}

/// How projects are decided.
enum Evaluator {
    Embedded(Arc<PolicyEngine>),
    Remote(pb::policy_service_client::PolicyServiceClient<tonic::transport::Channel>),
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let targets = projects::targets(&args.files, &args.paths, args.recursive, &cwd)?;
    if args.project_name.is_some() && targets.len() > 1 {
        anyhow::bail!(
            "--project-name names one project, but {} are checked: drop it or check one project",
            targets.len()
        );
    }
    let shared = Shared {
        project_name: args.project_name.clone(),
        env_files: args
            .env_files
            .iter()
            .map(|f| projects::absolute(&cwd, f))
            .collect(),
        profiles: args.compose_profiles.clone(),
        env: std::env::vars().collect(),
        cwd: cwd.clone(),
    };

    let started = std::time::Instant::now();
    let mut loaded: Vec<Arc<Loaded>> = Vec::new();
    let mut errors: Vec<FileIssue> = Vec::new();
    for t in &targets {
        match projects::load(t, &shared) {
            Ok(l) => loaded.push(Arc::new(l)),
            Err(e) => errors.extend(check::input_errors(&e)),
        }
    }

    tracing::debug!(
        projects = loaded.len(),
        errors = errors.len(),
        took_ms = started.elapsed().as_secs_f64() * 1e3,
        "compose projects loaded"
    );
    let started = std::time::Instant::now();
    let (evaluator, origin, profile, library) = match &args.server {
        None => {
            let bundle = match &args.policy.policies {
                Some(dir) if !args.entrypoints.is_empty() => {
                    let sources = dockgate::build::PolicySources::load(std::slice::from_ref(dir))?;
                    let options = dockgate::build::BuildOptions {
                        entrypoints: args.entrypoints.clone(),
                        ..Default::default()
                    };
                    let mut b = dockgate::build::build(&sources, &options)?;
                    b.origin = dir.display().to_string();
                    if let Some(p) = args.policy.profile {
                        b.set_data(
                            &dockgate::library::PROFILE_PATH,
                            serde_json::Value::String(p.as_str().into()),
                        );
                    }
                    b
                }
                _ => args.policy.bundle()?,
            };
            let origin = bundle.origin.clone();
            let library = args.policy.bundle.is_none() && args.policy.policies.is_none();
            let engine = PolicyEngine::load(bundle, &EngineOptions::default()).await?;
            (
                Evaluator::Embedded(Arc::new(engine)),
                origin,
                args.policy.profile.map(|p| p.as_str().to_string()),
                library,
            )
        }
        Some(uri) => {
            let tls = ClientTls {
                ca: args.ca.clone(),
                cert: args.cert.clone(),
                key: args.key.clone(),
                domain: None,
            };
            let channel = connect(uri, &tls, Duration::from_secs(60)).await?;
            let mut client = pb::policy_service_client::PolicyServiceClient::new(channel)
                .max_decoding_message_size(64 * 1024 * 1024);
            let info = client
                .get_policy_info(pb::GetPolicyInfoRequest {})
                .await
                .map_err(|s| anyhow::anyhow!("{uri}: GetPolicyInfo failed: {}", s.message()))?
                .into_inner();
            let library = info.origin == "built-in library";
            let profile = (!info.profile.is_empty()).then_some(info.profile);
            (
                Evaluator::Remote(client),
                format!("{uri} ({})", info.origin),
                profile,
                library,
            )
        }
    };

    tracing::debug!(
        took_ms = started.elapsed().as_secs_f64() * 1e3,
        "policies ready"
    );
    let started = std::time::Instant::now();
    let (mut reports, revision, mut more_errors) = evaluate(&evaluator, &loaded).await?;
    tracing::debug!(
        services = reports.iter().map(|r| r.services.len()).sum::<usize>(),
        took_ms = started.elapsed().as_secs_f64() * 1e3,
        "services decided"
    );
    errors.append(&mut more_errors);
    relativize(&mut reports, &mut errors, &cwd);
    let fail_on = match args.fail_on {
        FailOn::Deny => Level::Deny,
        FailOn::Warn => Level::Warn,
    };
    let report = Report::new(origin, revision, profile, fail_on, reports, errors);

    let controls = if library {
        dockgate::catalogue::controls()?
    } else {
        Default::default()
    };
    let to_terminal = args.output.is_none();
    let color = args.format == Format::Text
        && to_terminal
        && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let cx = report::Context {
        controls,
        base_dir: cwd.to_string_lossy().into_owned(),
        color,
    };
    let text = report::render(&report, args.format, &cx);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    // Input errors and the verdict also reach the log when the report goes elsewhere.
    if args.format != Format::Text || !to_terminal {
        for e in &report.errors {
            eprintln!("error: {}", issue_line(e));
        }
        if !to_terminal || args.format != Format::Github {
            eprintln!("dockgate check {}", report::summary_line(&report));
        }
    }
    Ok(if !report.errors.is_empty() {
        ExitCode::from(2)
    } else if report.findings_fail() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn issue_line(e: &FileIssue) -> String {
    let at = match (e.file.is_empty(), e.line, e.column) {
        (true, ..) => String::new(),
        (false, 0, _) => format!("{}: ", e.file),
        (false, l, 0) => format!("{}:{l}: ", e.file),
        (false, l, c) => format!("{}:{l}:{c}: ", e.file),
    };
    if e.path.is_empty() {
        format!("{at}{}", e.message)
    } else {
        format!("{at}{}: {}", e.path, e.message)
    }
}

/// Decides every loaded project (all their services at once, across the engine's pool or
/// the server's), in order.
async fn evaluate(
    evaluator: &Evaluator,
    loaded: &[Arc<Loaded>],
) -> anyhow::Result<(Vec<ProjectReport>, String, Vec<FileIssue>)> {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    let mut revision = String::new();
    match evaluator {
        Evaluator::Embedded(engine) => {
            let tasks: Vec<_> = loaded
                .iter()
                .map(|l| {
                    let l = l.clone();
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        check::check_project(&l.project, |req| {
                            let engine = engine.clone();
                            async move {
                                let started = std::time::Instant::now();
                                let decision = engine.decide(&req).await.map_err(|e| {
                                    CheckFailed(format!(
                                        "service {:?}: {e}",
                                        req.origin.service.as_deref().unwrap_or_default()
                                    ))
                                })?;
                                Ok::<_, CheckFailed>(Evaluated {
                                    decision,
                                    audit_id: String::new(),
                                    evaluation_time_us: u64::try_from(
                                        started.elapsed().as_micros(),
                                    )
                                    .unwrap_or(u64::MAX),
                                })
                            }
                        })
                        .await
                    })
                })
                .collect();
            for task in tasks {
                let (report, evaluated) = task.await.context("a check task failed")??;
                if let Some(e) = evaluated.first() {
                    revision.clone_from(&e.decision.bundle_revision);
                }
                reports.push(report);
            }
            if revision.is_empty() {
                revision.clone_from(&engine.info().revision);
            }
        }
        Evaluator::Remote(client) => {
            let tasks: Vec<_> = loaded
                .iter()
                .map(|l| {
                    let l = l.clone();
                    let mut client = client.clone();
                    tokio::spawn(async move { remote::check(&mut client, &l).await })
                })
                .collect();
            for task in tasks {
                let reply = task.await.context("a check task failed")??;
                revision = reply.bundle_revision;
                errors.extend(reply.errors);
                reports.extend(reply.report);
            }
        }
    }
    Ok((reports, revision, errors))
}

/// A service that could not be decided: the check fails (exit 2), never passes.
#[derive(Debug, thiserror::Error)]
#[error("policy evaluation failed: {0}")]
struct CheckFailed(String);

impl From<check::TaskFailed> for CheckFailed {
    fn from(e: check::TaskFailed) -> Self {
        Self(e.to_string())
    }
}
