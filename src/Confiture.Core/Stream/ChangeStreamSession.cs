using Npgsql;

namespace Confiture.Core.Stream;

/// <summary>
/// A session's change stream as this process holds it: the slot and publication, and while the
/// tables are still to be migrated, the slot's snapshot, kept importable by one idle source
/// transaction that imported it. The copy of every table reads that snapshot, so the stream
/// starts exactly where the copy ends. Released by the first Sync-ConfitureMigration, by cleanup,
/// or with the process; after that no table of the session can be migrated without a gap.
/// </summary>
internal sealed class ChangeStreamSession(string slot, string publication) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private NpgsqlConnection? _holder;
    private NpgsqlTransaction? _holderTransaction;

    public string Slot { get; } = slot;

    public string Publication { get; } = publication;

    /// <summary>The slot's exported snapshot, while it can still be imported; null once released (or for a slot taken over from an earlier process).</summary>
    public string? Snapshot { get; private set; }

    /// <summary>When the snapshot was taken (source clock).</summary>
    public DateTimeOffset? SnapshotTakenAt { get; private set; }

    /// <summary>Why the snapshot is not available, for the refusal.</summary>
    public string GoneReason { get; private set; } = "this session took over a change stream an earlier process set up";

    public void Hold(NpgsqlConnection holder, NpgsqlTransaction transaction, string snapshot, DateTimeOffset takenAt)
    {
        _holder = holder;
        _holderTransaction = transaction;
        Snapshot = snapshot;
        SnapshotTakenAt = takenAt;
    }

    /// <summary>Lets the snapshot go: the source may vacuum what only it still saw.</summary>
    public async Task ReleaseSnapshotAsync(string reason)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Snapshot is not null)
            {
                GoneReason = reason;
            }

            Snapshot = null;
            if (_holderTransaction is not null)
            {
                await _holderTransaction.DisposeAsync().ConfigureAwait(false);
                _holderTransaction = null;
            }

            if (_holder is not null)
            {
                await _holder.DisposeAsync().ConfigureAwait(false);
                _holder = null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Whether the snapshot still holds: the holder's connection may have been ended by the source (idle_in_transaction_session_timeout).</summary>
    public async Task<string?> LiveSnapshotAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Snapshot is null || _holder is null)
            {
                return null;
            }

            try
            {
                await using var command = new NpgsqlCommand("SELECT 1", _holder);
                await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                return Snapshot;
            }
            catch (NpgsqlException) when (!cancellationToken.IsCancellationRequested)
            {
                GoneReason = "the source ended the idle transaction that held it (idle_in_transaction_session_timeout?)";
                Snapshot = null;
                return null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public ValueTask DisposeAsync() => new(ReleaseSnapshotAsync("the session ended"));
}
