//! Commits the Parquet files that reduce tasks wrote into a Delta Lake table: one transaction
//! per table per job, creating the table (partitioned by `date`) on first use. Until this
//! commit the files are invisible to readers, so a failed or cancelled job leaves no rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::DataType as ArrowType;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, DataType, StructField, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use fathom_core::schema::{DATE_COLUMN, anomalies_schema};
use fathom_core::storage;
use fathom_core::task::{LakeFile, lake_file_prefix};

use fathom_core::ids::JobId;
use fathom_core::job::JobState;
use tracing::{error, info};

use crate::error::CoordinatorError;
use crate::job_manager::JobManager;
use crate::metrics;

/// The Delta columns of an anomalies table with these key/tag columns.
fn delta_columns(columns: &[String]) -> Vec<StructField> {
    let schema = anomalies_schema(columns);
    let mut fields: Vec<StructField> = schema
        .fields()
        .iter()
        .map(|field| {
            let data_type = match field.data_type() {
                ArrowType::Timestamp(_, _) => DataType::TIMESTAMP,
                ArrowType::Float64 => DataType::DOUBLE,
                ArrowType::Int8 => DataType::BYTE,
                _ => DataType::STRING,
            };
            StructField::new(field.name(), data_type, field.is_nullable())
        })
        .collect();
    fields.push(StructField::new(DATE_COLUMN, DataType::DATE, false));
    fields
}

/// Lets deltalake open `s3://`, `gs://` and `az://` tables through the same object stores (and
/// the same `AWS_*` / `GOOGLE_*` / `AZURE_*` settings) the rest of Fathom reads and writes with,
/// instead of a second cloud SDK stack: the default log store commits with a conditional put
/// (`If-None-Match: *` on S3), so two writers never both win a version.
fn register_object_stores() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        // GCS and Azure Blob honour a create-only put as S3 does (generation and ETag
        // preconditions), so the same log store is safe on them.
        for scheme in ["s3://", "gs://", "az://", "azure://", "abfs://", "abfss://"] {
            let scheme = url::Url::parse(scheme).expect("a valid URL");
            deltalake::logstore::object_store_factories().insert(scheme.clone(), Arc::new(FathomStores));
            deltalake::logstore::logstore_factories().insert(scheme, Arc::new(FathomStores));
        }
    });
}

struct FathomStores;

impl deltalake::logstore::ObjectStoreFactory for FathomStores {
    fn parse_url_opts(
        &self,
        url: &url::Url,
        _config: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<(deltalake::logstore::ObjectStoreRef, deltalake::Path)> {
        let location =
            storage::open(url.as_str()).map_err(|error| deltalake::DeltaTableError::Generic(error.to_string()))?;
        Ok((location.store, location.path))
    }
}

impl deltalake::logstore::LogStoreFactory for FathomStores {
    fn with_options(
        &self,
        prefixed_store: deltalake::logstore::ObjectStoreRef,
        root_store: deltalake::logstore::ObjectStoreRef,
        location: &url::Url,
        options: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn deltalake::logstore::LogStore>> {
        Ok(deltalake::logstore::default_logstore(prefixed_store, root_store, location, options))
    }
}

/// Attempts at a commit that keeps losing to concurrent writers before giving up.
const CONFLICT_ATTEMPTS: u32 = 5;

/// Commits `files` to the table at `table_uri`; returns the table version holding them.
///
/// Idempotent per job: the commit carries a Delta application transaction (`fathom-<job id>`),
/// and a job whose transaction is already in the log is not committed again. That is what
/// keeps rows single when a coordinator dies between committing and recording that it did,
/// and its successor commits the job once more.
///
/// Replaces the window: files that earlier runs of the same job wrote for the same window
/// (found by [`lake_file_prefix`]) are removed in the same transaction, so a rerun leaves one
/// copy of the window's rows, and readers see either the old rows or the new, never both.
///
/// Concurrent writers: Delta's own retry absorbs appends that land in between; a transaction
/// that conflicts (another run replaced the same files first) is rebuilt from the new table
/// state and tried again, up to [`CONFLICT_ATTEMPTS`] times.
pub async fn commit(
    table_uri: &str,
    columns: &[String],
    job_id: &str,
    replaces: &str,
    files: &[LakeFile],
) -> Result<u64, CoordinatorError> {
    let mut attempt = 1;
    loop {
        match commit_once(table_uri, columns, job_id, replaces, files).await {
            Err(CoordinatorError::Commit { source, .. })
                if attempt < CONFLICT_ATTEMPTS && matches!(*source, deltalake::DeltaTableError::Transaction { .. }) =>
            {
                tracing::warn!(table = table_uri, attempt, error = %source, "commit conflicted with another writer, retrying");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

async fn commit_once(
    table_uri: &str,
    columns: &[String],
    job_id: &str,
    replaces: &str,
    files: &[LakeFile],
) -> Result<u64, CoordinatorError> {
    register_object_stores();
    let commit_error = |source| CoordinatorError::Commit { table: table_uri.to_string(), source: Box::new(source) };
    let url = storage::resolve_url(table_uri)
        .map_err(|source| CoordinatorError::OpenTable { table: table_uri.to_string(), source: Box::new(source) })?;
    if let Ok(path) = url.to_file_path() {
        // Local tables: deltalake expects the directory to exist.
        std::fs::create_dir_all(&path).map_err(|error| CoordinatorError::OpenTable {
            table: table_uri.to_string(),
            source: Box::new(fathom_core::CoreError::InvalidUri {
                uri: table_uri.to_string(),
                reason: error.to_string(),
            }),
        })?;
    }
    let mut table = DeltaTable::try_from_url(url).await.map_err(commit_error)?;
    let wanted = delta_columns(columns);
    if table.version().is_none() {
        table = table
            .create()
            .with_columns(wanted.clone())
            .with_partition_columns([DATE_COLUMN])
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(commit_error)?;
    } else {
        let snapshot = table.snapshot().map_err(commit_error)?;
        let existing: Vec<String> = snapshot.schema().fields().map(|field| field.name().to_string()).collect();
        let wanted_names: Vec<String> = wanted.iter().map(|field| field.name().to_string()).collect();
        if existing != wanted_names {
            return Err(CoordinatorError::TableSchema {
                table: table_uri.to_string(),
                existing: existing.join(", "),
                wanted: wanted_names.join(", "),
            });
        }
    }
    if files.is_empty() {
        return Ok(table.version().unwrap_or(0));
    }
    let app_id = format!("fathom-{job_id}");
    let snapshot = table.snapshot().map_err(commit_error)?;
    if snapshot.transaction_version(table.log_store().as_ref(), &app_id).await.map_err(commit_error)?.is_some() {
        tracing::info!(%job_id, table = table_uri, "job already committed to this table; not committing again");
        return Ok(table.version().unwrap_or(0));
    }

    let now_ms = chrono::Utc::now().timestamp_millis();
    let replaced: Vec<Action> = snapshot
        .log_data()
        .iter()
        .filter(|file| file.path().rsplit('/').next().is_some_and(|name| name.starts_with(replaces)))
        .map(|file| Action::Remove(file.remove_action(true)))
        .collect();
    if !replaced.is_empty() {
        info!(%job_id, table = table_uri, files = replaced.len(), "replacing the window's rows of an earlier run");
    }
    let mode = if replaced.is_empty() { SaveMode::Append } else { SaveMode::Overwrite };
    let actions: Vec<Action> = replaced
        .into_iter()
        .chain(files.iter().map(|file| {
            Action::Add(Add {
                path: file.path.clone(),
                partition_values: HashMap::from([(DATE_COLUMN.to_string(), Some(file.date.clone()))]),
                size: file.size_bytes as i64,
                modification_time: now_ms,
                data_change: true,
                stats: Some(serde_json::json!({ "numRecords": file.rows }).to_string()),
                ..Add::default()
            })
        }))
        .collect();
    let properties = CommitProperties::default()
        .with_metadata([("fathom.job_id".to_string(), serde_json::Value::from(job_id))])
        .with_application_transaction(Transaction::new(&app_id, 1));
    let committed = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(
            Some(snapshot),
            table.log_store(),
            DeltaOperation::Write { mode, partition_by: Some(vec![DATE_COLUMN.to_string()]), predicate: None },
        )
        .await
        .map_err(commit_error)?;
    Ok(committed.version())
}

impl JobManager {
    /// Commits a complete job's files, one transaction per table, then marks it succeeded (or
    /// failed with the commit's error). A job cancelled meanwhile is left alone.
    pub(crate) async fn commit_job(self: Arc<Self>, job_id: JobId) {
        let (replaces, work) = {
            let state = self.lock();
            let Some(job) = state.jobs.get(&job_id) else {
                return;
            };
            let Some(graph) = job.graph.as_ref() else {
                return;
            };
            let columns: BTreeMap<String, Vec<String>> = graph.plan.tables().into_iter().collect();
            let replaces = lake_file_prefix(&graph.plan.job_name, graph.plan.window);
            let work = graph
                .lake_files()
                .into_iter()
                .map(|(table, files)| {
                    let table_columns = columns.get(&table).cloned().unwrap_or_default();
                    (table, table_columns, files)
                })
                .collect::<Vec<_>>();
            (replaces, work)
        };
        let mut outcome = Ok(());
        for (table, columns, files) in &work {
            if self.lock().jobs.get(&job_id).map(|job| job.state) != Some(JobState::Committing) {
                return;
            }
            match commit(table, columns, job_id.as_str(), &replaces, files).await {
                Ok(version) => info!(%job_id, %table, version, files = files.len(), "lake table committed"),
                Err(error) => {
                    outcome = Err(error.report());
                    break;
                }
            }
        }
        let mut state = self.lock();
        if let Some(job) = state.jobs.get_mut(&job_id) {
            job.commit_finished = Some(Instant::now());
            match outcome {
                Ok(()) => {
                    crate::alert_delivery::fill_outbox(&job_id, job);
                    job.state = JobState::Succeeded;
                    metrics::increment(&metrics::JOBS_SUCCEEDED);
                    job.finished = Some(Instant::now());
                    info!(%job_id, "job succeeded");
                }
                Err(reason) => {
                    error!(%job_id, %reason, "commit failed");
                    job.fail(reason);
                }
            }
        }
    }
}
