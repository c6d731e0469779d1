using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Record;

/// <summary>
/// What Confiture keeps on the target about its own work, in the schema <c>confiture</c>: a few
/// plain tables a DBA can read (documented in about_Confiture), written in the same transaction as
/// the change each row describes, so the record is never ahead of or behind the data.
/// </summary>
internal static class TargetRecord
{
    public const string Schema = "confiture";

    /// <summary>Serializes creation of the record between concurrent sessions on one target.</summary>
    private const long CreationLock = 0x436F6E6669747572; // "Confitur"

    /// <summary>
    /// The record's tables. Each statement is idempotent; new tables are added at the end, and a
    /// table's columns only ever grow (ADD COLUMN IF NOT EXISTS), so any version reads any record.
    /// </summary>
    private static readonly string[] Definitions =
    [
        $"CREATE SCHEMA IF NOT EXISTS {Schema}",
        $"COMMENT ON SCHEMA {Schema} IS 'What Confiture did on this database (see about_Confiture); Remove-ConfitureFdw drops it unless -KeepRecord.'",
        // The map each target table was last migrated with: what a later verification compares.
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.table_map (
            target_schema text NOT NULL,
            target_table text NOT NULL,
            source_schema text NOT NULL,
            source_table text NOT NULL,
            columns jsonb NOT NULL,
            defaulted jsonb NOT NULL DEFAULT '[]',
            excluded jsonb NOT NULL DEFAULT '[]',
            strategy text NOT NULL,
            rows_written bigint NOT NULL,
            server_name text NOT NULL,
            migrated_at timestamptz NOT NULL DEFAULT now(),
            migrated_by text NOT NULL DEFAULT current_user,
            PRIMARY KEY (target_schema, target_table))
        """,
        // What Enable-ConfitureFdw created, per foreign server: cleanup drops exactly this. A row
        // counts only in the database it was written in (its OID and the cluster's system
        // identifier), so a copy restored elsewhere owns nothing there. session_lock is the
        // advisory lock the session's process holds while it lives.
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.setup (
            server_name text PRIMARY KEY,
            database_oid oid NOT NULL,
            system_identifier bigint NOT NULL,
            source_host text NOT NULL,
            source_port integer NOT NULL,
            source_database text NOT NULL,
            source_schema text NOT NULL,
            foreign_schema text NOT NULL,
            session_lock bigint NOT NULL,
            session_client text NOT NULL,
            set_up_by text NOT NULL DEFAULT current_user,
            set_up_at timestamptz NOT NULL DEFAULT now())
        """,
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.setup_object (
            server_name text NOT NULL REFERENCES {Schema}.setup ON UPDATE CASCADE ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('user mapping', 'schema', 'foreign table', 'publication', 'replication slot')),
            schema_name text NOT NULL DEFAULT '',
            name text NOT NULL,
            PRIMARY KEY (server_name, kind, schema_name, name))
        """,
        // Indexes and constraints a -DeferIndexes load dropped in a transaction that committed before
        // its data did (parallel parts), written in that same transaction and removed in the one that
        // rebuilds them: a row here after the load's run lock is gone means a definition to restore.
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.deferred_definition (
            target_schema text NOT NULL,
            target_table text NOT NULL,
            position int NOT NULL,
            kind text NOT NULL CHECK (kind IN ('index', 'constraint')),
            owner_table text NOT NULL,
            qualified_name text NOT NULL,
            name text NOT NULL,
            restore text[] NOT NULL,
            dropped_at timestamptz NOT NULL DEFAULT now(),
            dropped_by text NOT NULL DEFAULT current_user,
            backend_pid int NOT NULL DEFAULT pg_backend_pid(),
            PRIMARY KEY (target_schema, target_table, position))
        """,
        // Where the last -Sync -ChangedSince of each table read the source: the oldest source
        // transaction its snapshot could not see, so the next sync rereads what committed late.
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.sync_mark (
            target_schema text NOT NULL,
            target_table text NOT NULL,
            source_schema text NOT NULL,
            source_table text NOT NULL,
            columns text NOT NULL,
            source_xmin bigint NOT NULL,
            synced_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (target_schema, target_table))
        """,
        // The run ledger: one row per run of several tables, written before its first load and
        // given its end state at the end (a killed run stays 'running'; run_lock is the advisory
        // lock its process holds while it lives, so a dead one is told from a live one).
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.run (
            run_id uuid PRIMARY KEY,
            server_name text NOT NULL,
            state text NOT NULL CHECK (state IN ('running', 'failed', 'completed', 'cancelled')),
            table_count int NOT NULL,
            tables jsonb NOT NULL,
            snapshot_at timestamptz,
            source_xmin bigint,
            run_lock bigint NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            started_by text NOT NULL DEFAULT current_user,
            resumed_at timestamptz,
            resume_snapshot_at timestamptz,
            finished_at timestamptz)
        """,
        // Each table a run committed, written in the transaction that committed its rows.
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.run_table (
            run_id uuid NOT NULL REFERENCES {Schema}.run ON DELETE CASCADE,
            target_schema text NOT NULL,
            target_table text NOT NULL,
            source_schema text NOT NULL,
            source_table text NOT NULL,
            map jsonb NOT NULL,
            map_digest text NOT NULL,
            strategy text NOT NULL,
            rows_written bigint NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (run_id, target_schema, target_table))
        """,
        // The last checksum verification of each target table, with how the table stood on each
        // server just before it (row counters and storage files): the cutover gate compares them
        // with how the tables stand now to tell whether either side changed since.
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.verification (
            target_schema text NOT NULL,
            target_table text NOT NULL,
            source_schema text NOT NULL,
            source_table text NOT NULL,
            server_name text NOT NULL,
            matched boolean NOT NULL,
            target_changes bigint NOT NULL,
            source_changes bigint NOT NULL,
            target_storage text NOT NULL,
            source_storage text NOT NULL,
            verified_at timestamptz NOT NULL DEFAULT now(),
            verified_by text NOT NULL DEFAULT current_user,
            PRIMARY KEY (target_schema, target_table))
        """,
        // A change stream's objects on the source are listed in setup_object too. A record written
        // before they existed has the narrower CHECK: replaced, whatever it was, in one statement.
        $"""
        ALTER TABLE {Schema}.setup_object DROP CONSTRAINT IF EXISTS setup_object_kind_check,
            ADD CONSTRAINT setup_object_kind_check CHECK (kind IN ('user mapping', 'schema', 'foreign table', 'publication', 'replication slot'))
        """,
        // Where each session's change stream stands: the end LSN of the last source transaction
        // applied to the target, written in the same transaction as its changes.
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.stream_position (
            server_name text PRIMARY KEY REFERENCES {Schema}.setup ON UPDATE CASCADE ON DELETE CASCADE,
            slot_name text NOT NULL,
            publication text NOT NULL,
            applied_lsn pg_lsn NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            changes_applied bigint NOT NULL DEFAULT 0)
        """,
        // The foreign keys among the tables of a -DeferIndexes run, dropped when it starts and
        // added back when its tables have loaded: written in the transaction of the drop, removed
        // in the one that validates the key. A row whose run's lock is gone is a key to put back
        // ('dropped': missing; 'not validated': back as NOT VALID, its rows not all matched yet).
        $"""
        CREATE TABLE IF NOT EXISTS {Schema}.run_key (
            owner_table text NOT NULL,
            name text NOT NULL,
            referenced_table text NOT NULL,
            definition text NOT NULL,
            run_id uuid NOT NULL,
            state text NOT NULL CHECK (state IN ('dropped', 'not validated')),
            failure text,
            dropped_at timestamptz NOT NULL DEFAULT now(),
            dropped_by text NOT NULL DEFAULT current_user,
            PRIMARY KEY (owner_table, name))
        """,
    ];

    /// <summary>Creates whatever of the record is missing, inside the caller's transaction.</summary>
    public static async Task EnsureAsync(NpgsqlConnection connection, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var complete = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT count(*) = $1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $2 AND c.relkind = 'r' AND c.relname = ANY ($3)",
            cancellationToken, TableCount, Schema, TableNames).ConfigureAwait(false);
        if (complete)
        {
            return;
        }

        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"SELECT pg_advisory_xact_lock({CreationLock})"), observer, cancellationToken).ConfigureAwait(false);
        foreach (var definition in Definitions)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(definition), observer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether this role may use one of the record's tables with the given privileges (such as
    /// 'SELECT' or 'INSERT, UPDATE'); null when the table does not exist. Read from the catalog:
    /// to_regclass fails outright on a schema the role has no USAGE on, where "not for you" is the answer.
    /// </summary>
    public static Task<bool?> AccessAsync(NpgsqlConnection connection, string table, string privileges, CancellationToken cancellationToken) =>
        SqlExecutor.ScalarAsync<bool?>(connection,
            """
            SELECT CASE WHEN c.oid IS NOT NULL THEN has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, $3) END
            FROM (SELECT 1) one
            LEFT JOIN pg_namespace n ON n.nspname = $1
            LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = $2 AND c.relkind = 'r'
            """,
            cancellationToken, Schema, table, privileges);

    /// <summary>Whether this role may create the record's missing tables: CREATE on the schema when it exists, else on the database.</summary>
    public static async Task<bool> MayCreateAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        await SqlExecutor.ScalarAsync<bool>(connection,
            """
            SELECT coalesce((SELECT has_schema_privilege(oid, 'CREATE') FROM pg_namespace WHERE nspname = $1),
                            has_database_privilege(current_database(), 'CREATE'))
            """,
            cancellationToken, Schema).ConfigureAwait(false);

    /// <summary>Whether the record exists on this target at all (a read-only check).</summary>
    public static Task<bool> ExistsAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        SqlExecutor.ScalarAsync<bool>(connection, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", cancellationToken, Schema);

    private static readonly string[] TableNames = ["table_map", "setup", "setup_object", "deferred_definition", "sync_mark", "run", "run_table", "verification", "stream_position", "run_key"];

    private static long TableCount => TableNames.Length;
}
