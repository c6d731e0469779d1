using Confiture.Core.Record;
using Confiture.Core.Sql;
using Confiture.Core.Stream;
using Npgsql;

namespace Confiture.Core.Readiness;

/// <summary>
/// The gate's change-stream items, from what the target's record says of the session's stream: its
/// replication slot and publication (<c>confiture.setup_object</c> rows of kind 'replication slot'
/// and 'publication') and how far it applied (<c>confiture.stream_position</c>: applied_lsn, the
/// source WAL position whose changes are committed on the target). On the source, the lag is
/// pg_current_wal_lsn() - applied_lsn and the slot retains the WAL from its restart_lsn on. A
/// session without a stream has no such rows, and no stream items.
/// </summary>
internal static class StreamChecks
{
    internal sealed record Outcome(IReadOnlyList<ReadinessItem> Items, long? LagBytes, long? RetainedBytes);

    public static async Task<Outcome> CheckAsync(NpgsqlConnection target, NpgsqlConnection source, string serverName, long maxLagBytes, CancellationToken cancellationToken)
    {
        var objects = await TargetRecord.AccessAsync(target, "setup_object", "SELECT", cancellationToken).ConfigureAwait(false) == true
            ? await SqlExecutor.ListAsync(target,
                $"SELECT kind, name FROM {TargetRecord.Schema}.setup_object WHERE server_name = $1 AND kind IN ('replication slot', 'publication') ORDER BY kind, name",
                r => (Kind: r.GetString(0), Name: r.GetString(1)), cancellationToken, serverName).ConfigureAwait(false)
            : [];
        // The stream's own reader of its position; the gate only adds whether the role may read it.
        var unreadable = await TargetRecord.AccessAsync(target, "stream_position", "SELECT", cancellationToken).ConfigureAwait(false) == false;
        var position = unreadable ? null : await StreamPosition.ReadAsync(target, serverName, cancellationToken).ConfigureAwait(false);
        var slot = objects.FirstOrDefault(o => o.Kind == "replication slot").Name ?? position?.Slot;
        if (slot is null)
        {
            return new Outcome([], null, null);
        }

        var items = new List<ReadinessItem>();
        var publication = objects.FirstOrDefault(o => o.Kind == "publication").Name ?? position?.Publication;

        var slots = await SqlExecutor.ListAsync(source,
            """
            SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, s.wal_status, s.restart_lsn::text, s.active,
                   $2::text IS NULL OR EXISTS (SELECT 1 FROM pg_publication p WHERE p.pubname = $2)
            FROM pg_replication_slots s WHERE s.slot_name = $1
            """,
            r => (Retained: r.IsDBNull(0) ? (long?)null : r.GetInt64(0), Status: r.IsDBNull(1) ? null : r.GetString(1),
                Restart: r.IsDBNull(2) ? null : r.GetString(2), Active: r.GetBoolean(3), Published: r.GetBoolean(4)),
            cancellationToken, slot, publication).ConfigureAwait(false);

        long? lag = null;
        if (unreadable)
        {
            items.Add(Item(ReadinessCheck.StreamLag, false, $"The role may not read {TargetRecord.Schema}.stream_position, so how far the stream applied cannot be told.",
                $"Grant SELECT on {TargetRecord.Schema}.stream_position to the role that runs the gate."));
        }
        else if (position is null)
        {
            items.Add(Item(ReadinessCheck.StreamLag, false, $"The change stream of slot \"{slot}\" has applied nothing yet (no row in {TargetRecord.Schema}.stream_position).",
                "Apply the stream (Sync-ConfitureMigration) with the writes to the source stopped, then run the gate again."));
        }
        else
        {
            lag = await SqlExecutor.ScalarAsync<long>(source, "SELECT greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn), 0)::bigint", cancellationToken, position.AppliedLsn.ToString())
                .ConfigureAwait(false);
            var where = $"applied up to {position.AppliedLsn} at {position.AppliedAt:u} ({position.ChangesApplied} change(s) in all)";
            items.Add(lag <= maxLagBytes
                ? Item(ReadinessCheck.StreamLag, true, $"The change stream {where}: {lag} byte(s) of source WAL behind, within -MaxStreamLagBytes {maxLagBytes}.", null)
                : Item(ReadinessCheck.StreamLag, false, $"The change stream {where}: {lag} byte(s) of source WAL behind, more than -MaxStreamLagBytes {maxLagBytes}.",
                    "Stop the writes to the source, apply the stream (Sync-ConfitureMigration), then run the gate again."));
        }

        if (slots.Count == 0)
        {
            items.Add(Item(ReadinessCheck.RetainedWal, false, $"The replication slot \"{slot}\" recorded for this session does not exist on the source: the stream cannot go on.",
                "Migrate the tables again with a new change stream (Enable-ConfitureFdw -ChangeStream), or switch only after a final sync with the writes stopped."));
            return new Outcome(items, lag, null);
        }

        var found = slots[0];
        if (!found.Published)
        {
            items.Add(Item(ReadinessCheck.StreamLag, false, $"The publication \"{publication}\" the stream reads does not exist on the source.",
                "Set up the change stream again (Enable-ConfitureFdw -ChangeStream) and migrate again."));
        }

        var retained = $"The slot \"{slot}\" retains {found.Retained?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no"} byte(s) of WAL on the source (restart_lsn {found.Restart ?? "none"}, {(found.Active ? "in use" : "idle")}, wal_status {found.Status ?? "unknown"})";
        items.Add(found.Status is "lost" or "unreserved"
            ? Item(ReadinessCheck.RetainedWal, false, retained + ": the source " + (found.Status == "lost" ? "removed WAL the stream still needed." : "is about to remove WAL the stream still needs (max_slot_wal_keep_size)."),
                "Apply the stream now (Sync-ConfitureMigration); a lost slot cannot be caught up: set up the stream again and migrate again.")
            : Item(ReadinessCheck.RetainedWal, true, retained + ".", null));
        return new Outcome(items, lag, found.Retained);
    }

    private static ReadinessItem Item(ReadinessCheck check, bool passed, string detail, string? whatToDo) => new(check, null, null, null, passed, detail, passed ? null : whatToDo);
}
