using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;
using NpgsqlTypes;

namespace Confiture.Core.Stream;

/// <summary>
/// Reads and writes <c>confiture.stream_position</c>: where a session's change stream stands on the
/// target. The position moves only in the transaction that applies the changes up to it, so after
/// any crash it names exactly the last source transaction the target holds.
/// </summary>
internal static class StreamPosition
{
    /// <param name="Slot">The replication slot on the source.</param>
    /// <param name="Publication">The publication the slot decodes.</param>
    /// <param name="AppliedLsn">The end LSN of the last source transaction applied (at first, the slot's consistent point).</param>
    /// <param name="AppliedAt">When it was applied.</param>
    /// <param name="ChangesApplied">Changes applied since the stream began.</param>
    public sealed record Row(string Slot, string Publication, NpgsqlLogSequenceNumber AppliedLsn, DateTimeOffset AppliedAt, long ChangesApplied);

    public static async Task<Row?> ReadAsync(NpgsqlConnection connection, string serverName, CancellationToken cancellationToken)
    {
        if (await TargetRecord.AccessAsync(connection, "stream_position", "SELECT", cancellationToken).ConfigureAwait(false) != true)
        {
            return null;
        }

        var rows = await SqlExecutor.ListAsync(connection,
            $"SELECT slot_name, publication, applied_lsn::text, applied_at, changes_applied FROM {TargetRecord.Schema}.stream_position WHERE server_name = $1",
            r => new Row(r.GetString(0), r.GetString(1), NpgsqlLogSequenceNumber.Parse(r.GetString(2)), r.GetFieldValue<DateTimeOffset>(3), r.GetInt64(4)),
            cancellationToken, serverName).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>Starts the stream's position at the slot's consistent point (the copy's snapshot).</summary>
    public static async Task StartAsync(
        NpgsqlConnection connection, string serverName, string slot, string publication, NpgsqlLogSequenceNumber start, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"""
            INSERT INTO {TargetRecord.Schema}.stream_position (server_name, slot_name, publication, applied_lsn)
            VALUES ($1, $2, $3, $4::pg_lsn)
            ON CONFLICT (server_name) DO UPDATE SET slot_name = excluded.slot_name, publication = excluded.publication,
                applied_lsn = excluded.applied_lsn, applied_at = now(), changes_applied = 0
            """), observer, cancellationToken, serverName, slot, publication, start.ToString()).ConfigureAwait(false);
    }

    /// <summary>The statement that moves the position, run in the batch's own transaction.</summary>
    public static NpgsqlBatchCommand Advance(string serverName, NpgsqlLogSequenceNumber applied, long changes) => new(
        $"UPDATE {TargetRecord.Schema}.stream_position SET applied_lsn = $2::pg_lsn, applied_at = now(), changes_applied = changes_applied + $3 WHERE server_name = $1")
    {
        Parameters = { new() { Value = serverName }, new() { Value = applied.ToString() }, new() { Value = changes } },
    };

    public static Task DeleteAsync(NpgsqlConnection connection, string serverName, CancellationToken cancellationToken) =>
        SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DELETE FROM {TargetRecord.Schema}.stream_position WHERE server_name = $1"),
            NullObserver.Instance, cancellationToken, serverName);
}
