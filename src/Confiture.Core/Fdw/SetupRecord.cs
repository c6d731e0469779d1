using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>
/// The rows of <c>confiture.setup</c> and <c>confiture.setup_object</c>: which foreign server,
/// user mappings, schemas and foreign tables Confiture created, and which session set them up.
/// </summary>
internal static class SetupRecord
{
    public const string UserMapping = "user mapping";
    public const string SchemaKind = "schema";
    public const string ForeignTable = "foreign table";
    public const string Publication = "publication";
    public const string ReplicationSlot = "replication slot";

    /// <summary>Which database this is: its OID within its cluster, and the cluster's identifier.</summary>
    public sealed record Identity(uint DatabaseOid, long SystemIdentifier)
    {
        public override string ToString() => $"{SystemIdentifier}/{DatabaseOid}";
    }

    /// <summary>One object the record lists.</summary>
    public sealed record Item(string Kind, string Schema, string Name);

    /// <summary>A server's row and its objects.</summary>
    public sealed record Entry(
        string ServerName,
        Identity WrittenIn,
        string SourceHost,
        int SourcePort,
        string SourceDatabase,
        long SessionLock,
        string SessionClient,
        string SetUpBy,
        DateTime SetUpAt,
        IReadOnlyList<Item> Items)
    {
        public IEnumerable<Item> Of(string kind) => Items.Where(i => i.Kind == kind);
    }

    public static async Task<Identity> IdentityAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var rows = await SqlExecutor.ListAsync(connection,
            "SELECT d.oid, s.system_identifier FROM pg_database d, pg_control_system() s WHERE d.datname = current_database()",
            r => new Identity(r.GetFieldValue<uint>(0), r.GetInt64(1)), cancellationToken).ConfigureAwait(false);
        return rows[0];
    }

    /// <summary>The server's row, whichever database wrote it; null when there is none (or no record at all).</summary>
    public static async Task<Entry?> FindAsync(NpgsqlConnection connection, string serverName, CancellationToken cancellationToken)
    {
        var setup = await TargetRecord.AccessAsync(connection, "setup", "SELECT", cancellationToken).ConfigureAwait(false);
        var objects = await TargetRecord.AccessAsync(connection, "setup_object", "SELECT", cancellationToken).ConfigureAwait(false);
        if (setup == false || objects == false)
        {
            // Whose server this is cannot be told without reading the record: refused, never guessed.
            throw new ConfitureException(ConfitureErrorKind.PermissionDenied,
                $"{connection.UserName} may not read the record of Confiture's sessions on the target (schema {TargetRecord.Schema}), which another role created.",
                TargetRecord.Schema, $"Grant USAGE on schema {TargetRecord.Schema} and SELECT, INSERT, UPDATE, DELETE on its tables to {connection.UserName}, or run as the role that owns it.");
        }

        var exists = setup == true && objects == true;
        if (!exists)
        {
            return null;
        }

        var items = await SqlExecutor.ListAsync(connection,
            $"SELECT kind, schema_name, name FROM {TargetRecord.Schema}.setup_object WHERE server_name = $1 ORDER BY kind, schema_name, name",
            r => new Item(r.GetString(0), r.GetString(1), r.GetString(2)), cancellationToken, serverName).ConfigureAwait(false);
        var rows = await SqlExecutor.ListAsync(connection,
            $"""
            SELECT database_oid, system_identifier, source_host, source_port, source_database,
                   session_lock, session_client, set_up_by, set_up_at
            FROM {TargetRecord.Schema}.setup WHERE server_name = $1
            """,
            r => new Entry(serverName, new Identity(r.GetFieldValue<uint>(0), r.GetInt64(1)), r.GetString(2), r.GetInt32(3), r.GetString(4),
                r.GetInt64(5), r.GetString(6), r.GetString(7), r.GetDateTime(8), items),
            cancellationToken, serverName).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>Writes the server's row as this session's, and replaces its list of objects.</summary>
    public static async Task WriteAsync(
        NpgsqlConnection connection, IOperationObserver observer, string serverName, Identity identity, DatabaseAddress source,
        string sourceSchema, string foreignSchema, long sessionLock, IEnumerable<Item> items, CancellationToken cancellationToken)
    {
        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        await Execute(connection,
            $"""
            INSERT INTO {TargetRecord.Schema}.setup AS s (server_name, database_oid, system_identifier, source_host, source_port, source_database,
                source_schema, foreign_schema, session_lock, session_client)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (server_name) DO UPDATE SET
                database_oid = excluded.database_oid, system_identifier = excluded.system_identifier,
                source_host = excluded.source_host, source_port = excluded.source_port, source_database = excluded.source_database,
                source_schema = excluded.source_schema, foreign_schema = excluded.foreign_schema,
                session_lock = excluded.session_lock, session_client = excluded.session_client,
                set_up_by = current_user, set_up_at = now()
            """,
            cancellationToken, serverName, identity.DatabaseOid, identity.SystemIdentifier, source.Host, source.Port, source.Database,
            sourceSchema, foreignSchema, sessionLock, SessionClient()).ConfigureAwait(false);
        await ReplaceItemsAsync(connection, serverName, items, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Keeps only these objects in the server's list (what cleanup could not drop).</summary>
    public static async Task ReplaceItemsAsync(NpgsqlConnection connection, string serverName, IEnumerable<Item> items, CancellationToken cancellationToken)
    {
        var list = items.Distinct().ToList();
        await Execute(connection, $"DELETE FROM {TargetRecord.Schema}.setup_object WHERE server_name = $1", cancellationToken, serverName).ConfigureAwait(false);
        await Execute(connection,
            $"""
            INSERT INTO {TargetRecord.Schema}.setup_object (server_name, kind, schema_name, name)
            SELECT $1, k, s, n FROM unnest($2::text[], $3::text[], $4::text[]) AS i (k, s, n)
            """,
            cancellationToken, serverName, list.Select(i => i.Kind).ToArray(), list.Select(i => i.Schema).ToArray(), list.Select(i => i.Name).ToArray())
            .ConfigureAwait(false);
    }

    /// <summary>Forgets the server (its objects go with it).</summary>
    public static Task DeleteAsync(NpgsqlConnection connection, string serverName, CancellationToken cancellationToken) =>
        Execute(connection, $"DELETE FROM {TargetRecord.Schema}.setup WHERE server_name = $1", cancellationToken, serverName);

    /// <summary>Who to name when another session holds the server: this machine and process.</summary>
    public static string SessionClient() => $"{Environment.MachineName} process {Environment.ProcessId}";

    private static Task<int> Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object?[] parameters) =>
        SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(sql), NullObserver.Instance, cancellationToken, parameters);
}

/// <summary>Where the foreign server points: the source as the target server reaches it.</summary>
internal sealed record DatabaseAddress(string Host, int Port, string Database)
{
    public override string ToString() => $"{Host}:{Port}/{Database}";
}
