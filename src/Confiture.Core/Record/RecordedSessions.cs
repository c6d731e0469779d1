using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Errors;
using Confiture.Core.Fdw;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Record;

/// <summary>A table a recorded session migrated, as confiture.table_map keeps it.</summary>
public sealed record RecordedTable(string SourceSchema, string SourceTable, string TargetSchema, string TargetTable, string Strategy, long RowsWritten, DateTimeOffset MigratedAt);

/// <summary>
/// A session Enable-ConfitureFdw set up on a target, read back from the target's record
/// (confiture.setup, setup_object and table_map) by any later process.
/// </summary>
public sealed record RecordedSession
{
    /// <summary>The foreign server on the target.</summary>
    public required string ServerName { get; init; }

    /// <summary>The source's host as the foreign server reaches it.</summary>
    public required string SourceHost { get; init; }

    /// <summary>The source's port as the foreign server reaches it.</summary>
    public required int SourcePort { get; init; }

    /// <summary>The source database.</summary>
    public required string SourceDatabase { get; init; }

    /// <summary>The source schema whose tables were imported.</summary>
    public required string SourceSchema { get; init; }

    /// <summary>The target schema holding the foreign tables.</summary>
    public required string ForeignSchema { get; init; }

    /// <summary>The foreign server's fetch_size; the default when the server is gone.</summary>
    public required int FetchSize { get; init; }

    /// <summary>The foreign tables the record lists (the source tables imported).</summary>
    public required IReadOnlyList<string> Tables { get; init; }

    /// <summary>The tables this session migrated, from confiture.table_map.</summary>
    public required IReadOnlyList<RecordedTable> Migrated { get; init; }

    /// <summary>Whether a process still holds the session's lock (the process that set it up is running).</summary>
    public required bool Live { get; init; }

    /// <summary>Whether the foreign server the record lists still exists on the target.</summary>
    public required bool ServerExists { get; init; }

    /// <summary>Whether the record lists a user mapping for the current role.</summary>
    public required bool HasUserMapping { get; init; }

    /// <summary>The role that set the session up.</summary>
    public required string SetUpBy { get; init; }

    /// <summary>When it was set up.</summary>
    public required DateTimeOffset SetUpAt { get; init; }

    /// <summary>The machine and process that set it up.</summary>
    public required string SessionClient { get; init; }

    /// <summary>The source as the record names it: host:port/database.</summary>
    public string SourceAddress => $"{SourceHost}:{SourcePort}/{SourceDatabase}";
}

/// <summary>
/// Finds the sessions recorded on a target and continues one in this process: the foreign server,
/// user mapping and foreign tables already exist, so nothing is set up again; the source given
/// must be the recorded one.
/// </summary>
public static class RecordedSessions
{
    /// <summary>The sessions recorded in this target database (rows a copy restored elsewhere wrote do not count), by server name.</summary>
    public static async Task<IReadOnlyList<RecordedSession>> ListAsync(DatabaseEndpoint target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await ListAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex) when (ex is PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(null, target).Translate(ex, "reading the record of Confiture's sessions on the target", TargetRecord.Schema)!;
        }
    }

    private static async Task<IReadOnlyList<RecordedSession>> ListAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var setup = await TargetRecord.AccessAsync(connection, "setup", "SELECT", cancellationToken).ConfigureAwait(false);
        var objects = await TargetRecord.AccessAsync(connection, "setup_object", "SELECT", cancellationToken).ConfigureAwait(false);
        if (setup is null || objects is null)
        {
            return [];
        }

        if (setup == false || objects == false)
        {
            throw new ConfitureException(ConfitureErrorKind.PermissionDenied,
                $"{connection.UserName} may not read the record of Confiture's sessions on the target (schema {TargetRecord.Schema}), which another role created.",
                TargetRecord.Schema, $"Grant USAGE on schema {TargetRecord.Schema} and SELECT on its tables to {connection.UserName}, or run as the role that owns it.");
        }

        var identity = await SetupRecord.IdentityAsync(connection, cancellationToken).ConfigureAwait(false);
        var rows = await SqlExecutor.ListAsync(connection,
            $"""
            SELECT s.server_name, s.source_host, s.source_port, s.source_database, s.source_schema, s.foreign_schema,
                   s.session_lock, s.session_client, s.set_up_by, s.set_up_at,
                   fs.oid IS NOT NULL,
                   (SELECT option_value FROM pg_options_to_table(fs.srvoptions) WHERE option_name = 'fetch_size')
            FROM {TargetRecord.Schema}.setup s
            LEFT JOIN pg_foreign_server fs ON fs.srvname = s.server_name
            WHERE s.database_oid = $1 AND s.system_identifier = $2
            ORDER BY s.server_name
            """,
            r => (Server: r.GetString(0), Host: r.GetString(1), Port: r.GetInt32(2), Database: r.GetString(3), SourceSchema: r.GetString(4),
                ForeignSchema: r.GetString(5), Lock: r.GetInt64(6), Client: r.GetString(7), By: r.GetString(8), At: r.GetFieldValue<DateTimeOffset>(9),
                Exists: r.GetBoolean(10), FetchSize: r.IsDBNull(11) ? null : r.GetString(11)),
            cancellationToken, identity.DatabaseOid, identity.SystemIdentifier).ConfigureAwait(false);
        var sessions = new List<RecordedSession>();
        foreach (var row in rows)
        {
            var entry = await SetupRecord.FindAsync(connection, row.Server, cancellationToken).ConfigureAwait(false);
            var items = entry?.Items ?? [];
            var live = LiveSessions.OursFor(identity, row.Server) == row.Lock
                || await LiveSessions.IsLiveAsync(connection, identity, row.Lock, cancellationToken).ConfigureAwait(false);
            sessions.Add(new RecordedSession
            {
                ServerName = row.Server,
                SourceHost = row.Host,
                SourcePort = row.Port,
                SourceDatabase = row.Database,
                SourceSchema = row.SourceSchema,
                ForeignSchema = row.ForeignSchema,
                FetchSize = int.TryParse(row.FetchSize, NumberStyles.None, CultureInfo.InvariantCulture, out var fetch) ? fetch : FdwSettings.DefaultFetchSize,
                Tables = items.Where(i => i.Kind == SetupRecord.ForeignTable && i.Schema == row.ForeignSchema).Select(i => i.Name).ToList(),
                Migrated = await MigratedAsync(connection, row.Server, cancellationToken).ConfigureAwait(false),
                Live = live,
                ServerExists = row.Exists,
                HasUserMapping = items.Any(i => i.Kind == SetupRecord.UserMapping && i.Name == connection.UserName),
                SetUpBy = row.By,
                SetUpAt = row.At,
                SessionClient = row.Client,
            });
        }

        return sessions;
    }

    private static async Task<IReadOnlyList<RecordedTable>> MigratedAsync(NpgsqlConnection connection, string serverName, CancellationToken cancellationToken)
    {
        if (await TargetRecord.AccessAsync(connection, "table_map", "SELECT", cancellationToken).ConfigureAwait(false) != true)
        {
            return [];
        }

        return await SqlExecutor.ListAsync(connection,
            $"""
            SELECT source_schema, source_table, target_schema, target_table, strategy, rows_written, migrated_at
            FROM {TargetRecord.Schema}.table_map WHERE server_name = $1 ORDER BY migrated_at, target_schema, target_table
            """,
            r => new RecordedTable(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt64(5), r.GetFieldValue<DateTimeOffset>(6)),
            cancellationToken, serverName).ConfigureAwait(false);
    }

    /// <summary>
    /// A migrator for the recorded session, without setting anything up again. The source must be
    /// the recorded one: the same database, reached by the foreign server at the recorded address
    /// (the source's own address, or the one given as <paramref name="sourceHostForTarget"/> and
    /// <paramref name="sourcePortForTarget"/> when the target sees it under another), holding the
    /// recorded tables in the recorded schema.
    /// </summary>
    public static async Task<SchemaToSchemaMigrator> ContinueAsync(
        RecordedSession session, DatabaseEndpoint source, DatabaseEndpoint target,
        string? sourceHostForTarget = null, int? sourcePortForTarget = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        var given = new DatabaseAddress(sourceHostForTarget ?? source.Host, sourcePortForTarget ?? source.Port, source.Database);
        if (given.ToString() != session.SourceAddress)
        {
            throw new ConfitureException(ConfitureErrorKind.SourceMismatch,
                $"The session \"{session.ServerName}\" reads the source {session.SourceAddress}; the -Source given is {given}.",
                session.ServerName,
                session.SourceDatabase == source.Database
                    ? $"Connect to the recorded source; when the target reaches it under another address than you do, pass -SourceHostForTarget {session.SourceHost} -SourcePortForTarget {session.SourcePort}."
                    : $"Connect to database \"{session.SourceDatabase}\" at the recorded source.");
        }

        if (!session.ServerExists)
        {
            throw new ConfitureException(ConfitureErrorKind.SessionNotFound,
                $"The record lists the session \"{session.ServerName}\", but its foreign server no longer exists on the target.",
                session.ServerName, "Run Enable-ConfitureFdw to set the session up again.");
        }

        var migrator = new SchemaToSchemaMigrator(source, target, new FdwSettings
        {
            ServerName = session.ServerName,
            ForeignSchema = session.ForeignSchema,
            SourceSchema = session.SourceSchema,
            FetchSize = session.FetchSize,
            Tables = session.Tables.Count == 0 ? null : session.Tables,
            SourceHostForTarget = sourceHostForTarget,
            SourcePortForTarget = sourcePortForTarget,
        });
        // The same address may be another server behind it (a restored copy, a moved port): the
        // recorded tables must be tables of the recorded schema there.
        IReadOnlyList<string> found;
        try
        {
            found = await migrator.TablesAmongAsync(session.Tables, session.SourceSchema, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex) when (ex is PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(source, target).Translate(ex, $"reading the tables of schema \"{session.SourceSchema}\" on the source", session.SourceSchema)!;
        }

        var missing = session.Tables.Except(found, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            throw new ConfitureException(ConfitureErrorKind.SourceMismatch,
                $"The session \"{session.ServerName}\" imported tables that the -Source given has no table of in schema \"{session.SourceSchema}\": {string.Join(", ", missing)}.",
                session.ServerName, "Connect to the source the session was set up with.");
        }

        return migrator;
    }
}
