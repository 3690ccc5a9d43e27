//! Object storage locations: user URIs (`file://`, plain paths, and later `s3://` etc.)
//! resolved into an `object_store` and a path inside it.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use url::Url;

use crate::error::{CoreError, Result};
use crate::plan::SourceFile;

/// A resolved location: the store, the path inside it, and the normalised URL.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
    pub url: Url,
}

/// What a user can do about an object-store error on `uri`, as text to append to the message
/// (`": ..."`), or nothing when the error speaks for itself. Object stores answer with HTTP
/// codes and XML; this names the cause and the setting to change.
pub fn advice(uri: &str, error: &object_store::Error) -> String {
    let text = error.to_string();
    let s3 = uri.starts_with("s3://");
    let gcs = uri.starts_with("gs://");
    let azure = ["az://", "azure://", "abfs://", "abfss://"].iter().any(|scheme| uri.starts_with(scheme));
    let credentials_missing = text.to_ascii_lowercase().contains("credential")
        || text.contains("metadata")
        || text.contains("Account must be specified");
    let hint = if matches!(error, object_store::Error::NotFound { .. }) {
        "it does not exist".to_string()
    } else if text.contains("NoSuchBucket") {
        let bucket = uri.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("");
        format!("bucket {bucket:?} does not exist (check the URI, and AWS_ENDPOINT when the store is S3-compatible)")
    } else if s3
        && (text.contains("169.254.169.254")
            || text.contains("InvalidAccessKeyId")
            || text.contains("SignatureDoesNotMatch")
            || text.to_ascii_lowercase().contains("credential"))
    {
        "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or \
         AWS_WEB_IDENTITY_TOKEN_FILE); for an S3-compatible server also AWS_ENDPOINT and AWS_ALLOW_HTTP=true"
            .to_string()
    } else if gcs && credentials_missing {
        "no usable Google credentials: set GOOGLE_SERVICE_ACCOUNT (a key file) or GOOGLE_APPLICATION_CREDENTIALS"
            .to_string()
    } else if azure && credentials_missing {
        "no usable Azure credentials: set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or \
         AZURE_STORAGE_SAS_KEY, or AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID)"
            .to_string()
    } else if text.contains("AccessDenied") || text.contains("403 Forbidden") {
        "access denied: the credentials in use may not read it".to_string()
    } else {
        return String::new();
    };
    format!(": {hint}")
}

/// `file:///abs`, `s3://bucket/key` and friends pass through; a plain path (absolute or
/// relative to the working directory) becomes a `file://` URL.
pub fn resolve_url(uri: &str) -> Result<Url> {
    let invalid = |reason: String| CoreError::InvalidUri { uri: uri.to_string(), reason };
    if uri.is_empty() {
        return Err(invalid("empty".to_string()));
    }
    if uri.contains("://") {
        return Url::parse(uri).map_err(|error| invalid(error.to_string()));
    }
    let path = std::path::Path::new(uri);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|error| invalid(format!("cannot read the working directory: {error}")))?
            .join(path)
    };
    Url::from_file_path(&absolute).map_err(|()| invalid("not an absolute path".to_string()))
}

pub fn open(uri: &str) -> Result<Location> {
    let url = resolve_url(uri)?;
    let options: Vec<(String, String)> = match url.scheme() {
        "file" => Vec::new(),
        // The standard AWS_* variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
        // AWS_ENDPOINT for S3-compatible stores, AWS_ALLOW_HTTP=true for plain HTTP), as the AWS
        // tools read them.
        "s3" | "s3a" => settings("AWS_"),
        // GOOGLE_SERVICE_ACCOUNT (a key file), GOOGLE_SERVICE_ACCOUNT_KEY (its JSON),
        // GOOGLE_APPLICATION_CREDENTIALS; without them, the VM's metadata server.
        "gs" => settings("GOOGLE_"),
        // AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_KEY or
        // the AZURE_CLIENT_* service principal; AZURE_STORAGE_USE_EMULATOR=true for Azurite.
        "az" | "azure" | "abfs" | "abfss" => settings("AZURE_"),
        other => {
            return Err(CoreError::InvalidUri {
                uri: uri.to_string(),
                reason: format!("{other}:// storage is not supported; use a path, file://, s3://, gs:// or az://"),
            });
        }
    };
    let (store, path) = object_store::parse_url_opts(&url, options).map_err(|source| CoreError::OpenStore {
        uri: uri.to_string(),
        advice: advice(uri, &source),
        source: Box::new(source),
    })?;
    Ok(Location { store: Arc::from(store), path, url })
}

/// The environment variables starting with `prefix`, as object_store configuration keys.
fn settings(prefix: &str) -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect()
}

/// The URI of `child` (a path relative to `base`).
pub fn join(base: &Url, child: &str) -> String {
    format!("{}/{}", base.as_str().trim_end_matches('/'), child)
}

/// Every object under a prefix with one of `extensions`, sorted by URI. Hidden files and
/// folders (`.`/`_` prefixes, as Spark and Hive write them) are skipped.
pub async fn list_files(uri: &str, extensions: &[&str]) -> Result<Vec<SourceFile>> {
    let location = open(uri)?;
    if let Ok(local) = location.url.to_file_path()
        && location.url.scheme() == "file"
        && !local.exists()
    {
        return Err(CoreError::InvalidUri {
            uri: uri.to_string(),
            reason: format!("{} does not exist", local.display()),
        });
    }
    let listed: Vec<object_store::ObjectMeta> =
        location.store.list(Some(&location.path)).try_collect().await.map_err(|source| CoreError::ListObjects {
            uri: uri.to_string(),
            advice: advice(uri, &source),
            source: Box::new(source),
        })?;
    let mut files: Vec<SourceFile> = listed
        .into_iter()
        .filter(|meta| {
            let relative =
                meta.location.as_ref().strip_prefix(location.path.as_ref()).unwrap_or(meta.location.as_ref());
            let hidden = relative.split('/').any(|part| part.starts_with('.') || part.starts_with('_'));
            !hidden && extensions.iter().any(|extension| meta.location.as_ref().ends_with(extension))
        })
        .map(|meta| SourceFile {
            uri: format!("{}://{}/{}", location.url.scheme(), location.url.host_str().unwrap_or(""), meta.location),
            size_bytes: meta.size,
        })
        .collect();
    files.sort_by(|a, b| a.uri.cmp(&b.uri));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_become_file_urls() {
        assert_eq!(resolve_url("/data/raw").expect("abs").as_str(), "file:///data/raw");
        let relative = resolve_url("raw").expect("relative");
        assert!(relative.as_str().starts_with("file:///") && relative.as_str().ends_with("/raw"));
        assert!(open("ftp://bucket/x").is_err(), "an unknown scheme is refused");
    }

    #[tokio::test]
    async fn lists_data_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "date=2026-01-01/a.parquet",
            "date=2026-01-01/b.parquet",
            "_delta_log/0.json",
            "x/.hidden.parquet",
            "notes.txt",
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, b"1234").expect("write");
        }
        let uri = dir.path().to_str().expect("utf8");
        let files = list_files(uri, &[".parquet"]).await.expect("list");
        let names: Vec<&str> = files.iter().map(|file| file.uri.rsplit('/').next().unwrap_or("")).collect();
        assert_eq!(names, vec!["a.parquet", "b.parquet"]);
        assert!(files[0].uri.starts_with("file:///"));
        assert_eq!(files[0].size_bytes, 4);
        let missing = list_files(&format!("{uri}/nope"), &[".parquet"]).await.expect_err("missing");
        assert!(missing.to_string().contains("does not exist"), "{missing}");
    }
}

#[cfg(test)]
mod advice_tests {
    use super::advice;

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic { store: "S3", source: text.to_string().into() }
    }

    #[test]
    fn object_store_errors_get_the_setting_to_change() {
        let missing_bucket = generic("404 Not Found: <Error><Code>NoSuchBucket</Code></Error>");
        assert!(advice("s3://landing/raw/", &missing_bucket).contains("bucket \"landing\" does not exist"));
        let no_credentials = generic("Error performing PUT http://169.254.169.254/latest/api/token: 403");
        let text = advice("s3://landing/raw/", &no_credentials);
        assert!(text.contains("no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"), "{text}");
        let denied = generic("403 Forbidden: <Code>AccessDenied</Code>");
        assert!(advice("s3://landing/raw/", &denied).contains("access denied"));
        let missing = object_store::Error::NotFound { path: "raw/a.parquet".into(), source: "gone".into() };
        assert_eq!(advice("s3://landing/raw/a.parquet", &missing), ": it does not exist");
        assert_eq!(advice("s3://landing/raw/", &generic("connection reset")), "", "nothing to add");
    }
}

#[cfg(test)]
mod scheme_tests {
    use super::open;

    #[test]
    fn cloud_schemes_open_and_unknown_ones_are_named() {
        // Building a store needs no network: credentials are fetched on the first request.
        let gcs = open("gs://telemetry/raw/").expect("gs:// opens");
        assert_eq!(gcs.path.as_ref(), "raw");
        let unknown = open("ftp://host/raw/").err().map(|error| error.to_string()).unwrap_or_default();
        assert!(
            unknown.contains("ftp:// storage is not supported; use a path, file://, s3://, gs:// or az://"),
            "{unknown}"
        );
        // Azure needs an account before anything else; the message says which variable.
        if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_none() {
            let azure = open("az://telemetry/raw/").err().map(|error| error.to_string()).unwrap_or_default();
            assert!(azure.contains("set AZURE_STORAGE_ACCOUNT_NAME"), "{azure}");
        }
    }
}
