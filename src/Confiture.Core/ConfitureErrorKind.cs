namespace Confiture.Core;

/// <summary>
/// The stable reasons a Confiture operation fails. PowerShell turns each into the ErrorId
/// <c>Confiture.&lt;Kind&gt;</c>, so scripts can rely on the names: never rename a member.
/// </summary>
public enum ConfitureErrorKind
{
    /// <summary>An argument is empty, malformed or out of range.</summary>
    InvalidArgument,
    /// <summary>A connection string or URI cannot be parsed.</summary>
    InvalidConnectionString,
    /// <summary>The server could not be reached (host, port, network, TLS).</summary>
    ConnectionFailed,
    /// <summary>The server refused the credentials.</summary>
    AuthenticationFailed,
    /// <summary>The named database does not exist on the server.</summary>
    DatabaseNotFound,
    /// <summary>postgres_fdw is not installed on the target server's machine.</summary>
    FdwNotAvailable,
    /// <summary>postgres_fdw is not created in the target database and the user may not create it.</summary>
    FdwExtensionMissing,
    /// <summary>The target user lacks USAGE on the postgres_fdw foreign-data wrapper.</summary>
    FdwUsageDenied,
    /// <summary>The target user may not create the foreign schema.</summary>
    SchemaCreateDenied,
    /// <summary>A foreign server of that name exists but was not created by Confiture.</summary>
    ServerNotOwned,
    /// <summary>The foreign schema holds objects that are not this server's foreign tables.</summary>
    ForeignSchemaNotEmpty,
    /// <summary>The target server could not connect to the source through postgres_fdw.</summary>
    FdwConnectionFailed,
    /// <summary>A statement of the postgres_fdw setup or cleanup failed; nothing was changed.</summary>
    FdwSetupFailed,
    /// <summary>A schema named on the source or target does not exist.</summary>
    SchemaNotFound,
    /// <summary>A table named on the source or target does not exist.</summary>
    TableNotFound,
    /// <summary>A column named in a mapping does not exist.</summary>
    ColumnNotFound,
    /// <summary>Two source columns are mapped to the same target column.</summary>
    DuplicateTargetColumn,
    /// <summary>A NOT NULL target column without a default gets no value from the mapping.</summary>
    NotNullColumnUnmapped,
    /// <summary>The mapping leaves no column to migrate.</summary>
    EmptyColumnMapping,
    /// <summary>The target table already holds rows and neither Truncate nor Append was asked for.</summary>
    TargetNotEmpty,
    /// <summary>The server denied a privilege the operation needs.</summary>
    PermissionDenied,
    /// <summary>Moving the rows failed; the target was rolled back.</summary>
    MigrationFailed,
    /// <summary>The operation was cancelled; the target was rolled back.</summary>
    Cancelled,
    /// <summary>The foreign table the Fdw strategy would read no longer has the source table's columns or types.</summary>
    ForeignTableOutOfDate,
    /// <summary>A source value does not fit its target column (too long, out of range, refused by a domain); nothing was written.</summary>
    ValueDoesNotFit,
    /// <summary>A source column has no target column, or a target column gets no value, and the map does not say so by name.</summary>
    ColumnNotMapped,
    /// <summary>The tables of a run cannot be ordered or emptied together (a key from outside the run, say).</summary>
    RunNotPossible,
    /// <summary>The foreign server belongs to another live Confiture session or reads another source.</summary>
    ServerInUse,
    /// <summary>A lock was not granted within -LockTimeout (or the server's lock_timeout).</summary>
    LockTimeout,
    /// <summary>A server cancelled the statement: its statement_timeout, or another session's pg_cancel_backend.</summary>
    StatementCancelled,
    /// <summary>A server ended the session for a timeout setting (idle_in_transaction_session_timeout, idle_session_timeout).</summary>
    SessionTimeout,
    /// <summary>A server raised an error Confiture has no more specific kind for; the message names the server and the SqlState.</summary>
    ServerError,
    /// <summary>Definitions dropped by an interrupted -DeferIndexes load could not be restored.</summary>
    RestoreFailed,
    /// <summary>A name given as a source table is a view, a materialized view, a foreign table or a partition.</summary>
    NotATable,
    /// <summary>A change needs the user's confirmation and the host cannot ask (non-interactive, or no console input).</summary>
    ConfirmationRequired,
    /// <summary>No session of that name is recorded on the target (Get-ConfitureMigration).</summary>
    SessionNotFound,
    /// <summary>The source given is not the one the recorded session reads.</summary>
    SourceMismatch,
    /// <summary>-Resume cannot continue the run: none unfinished for these tables, a live process still runs it, or a table's map or rows differ from its ledger.</summary>
    ResumeNotPossible,
    /// <summary>The source's wal_level is not logical, so it cannot stream its changes.</summary>
    WalLevelNotLogical,
    /// <summary>The source role may not use replication (no REPLICATION attribute or the managed service's equivalent).</summary>
    ReplicationNotAllowed,
    /// <summary>The source role may not create the publication of the session's tables (not their owner, or no CREATE on the database).</summary>
    PublicationNotAllowed,
    /// <summary>The source has no free replication slot or WAL sender for the change stream.</summary>
    ReplicationSlotsExhausted,
    /// <summary>A source table has no replica identity (no primary key and not REPLICA IDENTITY FULL), so its updates and deletes cannot be streamed.</summary>
    ReplicaIdentityMissing,
    /// <summary>The change stream's snapshot is no longer available, so a table migrated now would miss or repeat changes.</summary>
    ChangeStreamSnapshotGone,
    /// <summary>A table of the change stream changed shape on the source (a new column, a changed type); the stream stopped before it.</summary>
    ChangeStreamSchemaChanged,
    /// <summary>The session has no change stream (Enable-ConfitureFdw -ChangeStream sets one up).</summary>
    NoChangeStream,
    /// <summary>Applying the change stream failed; the batch under way was rolled back and the stream resumes from the stored position.</summary>
    ChangeStreamFailed,
}
