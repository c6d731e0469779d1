using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Record;

/// <summary>
/// Reads and writes the run ledger, <c>confiture.run</c> and <c>confiture.run_table</c>: what a run
/// of several tables committed, with which map and how many rows, each row written in the
/// transaction of the table's own data, so the ledger is never ahead of or behind the target.
/// </summary>
internal static class RunLedger
{
    /// <summary>
    /// The run's advisory lock key, held by its process (session level, on the run's own connection)
    /// while it lives: kept positive and below 2^62, so pg_locks shows it as classid/objid unchanged.
    /// </summary>
    public static long LockKey(Guid runId) => (long)(BitConverter.ToUInt64(runId.ToByteArray(), 0) >> 2);

    /// <summary>The digest of a table's map: what -Resume compares, so a changed map is never resumed under.</summary>
    public static string Digest(MigratedMap map)
    {
        var json = MapJson(map);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json))).ToLowerInvariant();
    }

    private static string MapJson(MigratedMap map) => JsonSerializer.Serialize(new
    {
        source_schema = map.SourceSchema,
        source_table = map.SourceTable,
        columns = map.Columns.Select(c => new[] { c.Source, c.Target }),
        defaulted = map.Defaulted,
        excluded = map.Excluded,
    });

    /// <summary>Whether this role may keep the ledger (creating the record when it must); a warning otherwise, and the run goes on without one.</summary>
    public static async Task<bool> WritableAsync(NpgsqlConnection connection, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var access = await TargetRecord.AccessAsync(connection, "run", "SELECT, INSERT, UPDATE", cancellationToken).ConfigureAwait(false);
        var writable = access ?? await TargetRecord.MayCreateAsync(connection, cancellationToken).ConfigureAwait(false);
        if (!writable)
        {
            observer.Warning($"The run is not recorded on the target: {connection.UserName} may not write schema {TargetRecord.Schema}. -Resume cannot continue it if it fails.");
            return false;
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Records a new run as running, and takes its lock on this connection for as long as it stays open.</summary>
    public static async Task StartAsync(
        NpgsqlConnection connection, Guid runId, string serverName, IReadOnlyList<string> tables, DateTimeOffset? snapshotAt, long? sourceXmin,
        IOperationObserver observer, CancellationToken cancellationToken)
    {
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain("SELECT pg_advisory_lock($1)"), NullObserver.Instance, cancellationToken, LockKey(runId)).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"""
            INSERT INTO {TargetRecord.Schema}.run (run_id, server_name, state, table_count, tables, snapshot_at, source_xmin, run_lock)
            VALUES ($1, $2, 'running', $3, $4::jsonb, $5, $6, $7)
            """), observer, cancellationToken,
            runId, serverName, tables.Count, JsonSerializer.Serialize(tables), snapshotAt, sourceXmin, LockKey(runId)).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes over an unfinished run to resume it: its lock (refused while the process that runs it
    /// lives), its state back to running with the new snapshot's time, and its tables (the earlier
    /// ones and any that join it now).
    /// </summary>
    public static async Task TakeOverAsync(
        NpgsqlConnection connection, RunRecord run, IReadOnlyList<string> tables, DateTimeOffset? snapshotAt, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var taken = await SqlExecutor.ScalarAsync<bool>(connection, "SELECT pg_try_advisory_lock($1)", cancellationToken, LockKey(run.RunId)).ConfigureAwait(false);
        if (!taken)
        {
            throw new ConfitureException(ConfitureErrorKind.ResumeNotPossible,
                $"Run {run.RunId} (started {run.StartedAt:u} by {run.StartedBy}) is still running in another process: it holds the run's lock on the target.",
                run.RunId.ToString(), "Let that process finish (or stop it), then resume.");
        }

        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"UPDATE {TargetRecord.Schema}.run SET state = 'running', resumed_at = now(), resume_snapshot_at = $2, finished_at = NULL, tables = $3::jsonb, table_count = $4 WHERE run_id = $1"),
            observer, cancellationToken, run.RunId, snapshotAt, JsonSerializer.Serialize(tables), tables.Count).ConfigureAwait(false);
    }

    /// <summary>Records one committed table, inside the transaction that wrote its rows.</summary>
    public static Task RecordTableAsync(NpgsqlConnection connection, Guid runId, MigratedMap map, long rows, IOperationObserver observer, CancellationToken cancellationToken) =>
        SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"""
            INSERT INTO {TargetRecord.Schema}.run_table AS t
                (run_id, target_schema, target_table, source_schema, source_table, map, map_digest, strategy, rows_written)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)
            """), observer, cancellationToken,
            runId, map.TargetSchema, map.TargetTable, map.SourceSchema, map.SourceTable, MapJson(map), Digest(map), map.Strategy.ToString(), rows);

    /// <summary>Gives the run its end state (the lock goes with the connection).</summary>
    public static Task FinishAsync(NpgsqlConnection connection, Guid runId, string state, CancellationToken cancellationToken) =>
        SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"UPDATE {TargetRecord.Schema}.run SET state = $2, finished_at = now() WHERE run_id = $1"),
            NullObserver.Instance, cancellationToken, runId, state);

    /// <summary>
    /// The runs of a session (every session when <paramref name="serverName"/> is null), newest
    /// first, with the tables each committed; none when there is no ledger (or this role may not read it).
    /// </summary>
    public static async Task<IReadOnlyList<RunRecord>> ListAsync(NpgsqlConnection connection, string? serverName, CancellationToken cancellationToken)
    {
        if (await TargetRecord.AccessAsync(connection, "run", "SELECT", cancellationToken).ConfigureAwait(false) != true
            || await TargetRecord.AccessAsync(connection, "run_table", "SELECT", cancellationToken).ConfigureAwait(false) != true)
        {
            return [];
        }

        // A run recorded as running whose lock nobody holds was killed: it reads as failed.
        var runs = await SqlExecutor.ListAsync(connection,
            $"""
            SELECT r.run_id, r.server_name,
                   CASE WHEN r.state = 'running' AND NOT EXISTS (
                       SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = d.oid
                          AND l.classid::bigint * 4294967296 + l.objid::bigint = r.run_lock) THEN 'failed' ELSE r.state END,
                   r.tables::text, r.snapshot_at, r.started_at, r.started_by, r.resumed_at, r.finished_at
            FROM {TargetRecord.Schema}.run r, pg_database d
            WHERE d.datname = current_database() AND ($1::text IS NULL OR r.server_name = $1)
            ORDER BY r.started_at DESC, r.run_id
            """,
            r => (Id: r.GetGuid(0), Server: r.GetString(1), State: r.GetString(2), Tables: JsonSerializer.Deserialize<string[]>(r.GetString(3)) ?? [],
                SnapshotAt: r.IsDBNull(4) ? (DateTimeOffset?)null : r.GetFieldValue<DateTimeOffset>(4), StartedAt: r.GetFieldValue<DateTimeOffset>(5),
                StartedBy: r.GetString(6), ResumedAt: r.IsDBNull(7) ? (DateTimeOffset?)null : r.GetFieldValue<DateTimeOffset>(7),
                FinishedAt: r.IsDBNull(8) ? (DateTimeOffset?)null : r.GetFieldValue<DateTimeOffset>(8)),
            cancellationToken, serverName).ConfigureAwait(false);
        var tables = await SqlExecutor.ListAsync(connection,
            $"""
            SELECT t.run_id, t.target_schema, t.target_table, t.source_schema, t.source_table, t.map_digest, t.strategy, t.rows_written, t.committed_at
            FROM {TargetRecord.Schema}.run_table t JOIN {TargetRecord.Schema}.run r USING (run_id)
            WHERE $1::text IS NULL OR r.server_name = $1
            ORDER BY t.committed_at, t.target_schema, t.target_table
            """,
            r => (Id: r.GetGuid(0), Table: new RunTableRecord(r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetString(6),
                r.GetInt64(7), r.GetFieldValue<DateTimeOffset>(8))),
            cancellationToken, serverName).ConfigureAwait(false);
        return runs.Select(r => new RunRecord(r.Id, r.Server, r.State, r.Tables, r.SnapshotAt, r.StartedAt, r.StartedBy, r.ResumedAt, r.FinishedAt,
            tables.Where(t => t.Id == r.Id).Select(t => t.Table).ToList())).ToList();
    }
}
