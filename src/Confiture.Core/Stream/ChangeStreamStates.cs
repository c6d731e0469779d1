using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;
using NpgsqlTypes;

namespace Confiture.Core.Stream;

/// <summary>Reads where a session's change stream stands: its stored position on the target, its slot on the source.</summary>
internal static class ChangeStreamStates
{
    public static async Task<ChangeStreamState?> ReadAsync(
        DatabaseEndpoint source, NpgsqlConnection targetConnection, string serverName, bool snapshotHeld, CancellationToken cancellationToken)
    {
        var position = await StreamPosition.ReadAsync(targetConnection, serverName, cancellationToken).ConfigureAwait(false);
        if (position is null)
        {
            return null;
        }

        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var rows = await SqlExecutor.ListAsync(connection,
            """
            SELECT pg_current_wal_lsn()::text, s.restart_lsn::text, coalesce(s.active, false)
            FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1
            """,
            r => (Current: NpgsqlLogSequenceNumber.Parse(r.GetString(0)), Restart: r.IsDBNull(1) ? (NpgsqlLogSequenceNumber?)null : NpgsqlLogSequenceNumber.Parse(r.GetString(1)),
                Active: r.GetBoolean(2)),
            cancellationToken, position.Slot).ConfigureAwait(false);
        var (current, restart, active) = rows[0];
        return new ChangeStreamState(position.Slot, position.Publication, position.AppliedLsn.ToString(), current.ToString(),
            Distance(current, position.AppliedLsn), restart is { } r ? Distance(current, r) : null, active, snapshotHeld);
    }

    /// <summary>The warning every call of a change-stream session gives while its slot keeps much WAL.</summary>
    public static string? Warning(ChangeStreamState? state) => state switch
    {
        null => null,
        { RetainedWalBytes: null } => $"The change stream's replication slot \"{state.Slot}\" is gone from the source: Sync-ConfitureMigration cannot go on. Run Remove-ConfitureFdw, then set up and migrate again.",
        { RetainedWalBytes: > ChangeStreamState.RetainedWalWarningBytes } =>
            $"The change stream's replication slot \"{state.Slot}\" keeps {state.RetainedWalBytes / (1024 * 1024)} MiB of WAL on the source ({state.LagBytes / (1024 * 1024)} MiB not applied yet): run Sync-ConfitureMigration, or Remove-ConfitureFdw to drop the slot, before the source's disk fills.",
        _ => null,
    };

    private static long Distance(NpgsqlLogSequenceNumber to, NpgsqlLogSequenceNumber from) =>
        (ulong)to > (ulong)from ? (long)((ulong)to - (ulong)from) : 0;
}
