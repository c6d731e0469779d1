using Confiture.Core.Connections;
using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Run;

/// <summary>
/// A run under way: one exported source snapshot held open while its groups load, one target
/// transaction each, so the target becomes one consistent cut of the source even while the
/// application writes. Disposing it releases the snapshot.
/// </summary>
public sealed class MigrationRun : IAsyncDisposable
{
    private readonly DatabaseEndpoint _target;
    private readonly Func<IOperationObserver, TableMigrator> _migrator;
    private readonly NpgsqlConnection? _snapshotConnection;
    private readonly NpgsqlTransaction? _snapshotTransaction;
    private readonly string? _snapshot;

    private MigrationRun(RunPlan plan, DatabaseEndpoint target, Func<IOperationObserver, TableMigrator> migrator,
        NpgsqlConnection? connection, NpgsqlTransaction? transaction, string? snapshot, DateTimeOffset? takenAt)
    {
        Plan = plan;
        _target = target;
        _migrator = migrator;
        _snapshotConnection = connection;
        _snapshotTransaction = transaction;
        _snapshot = snapshot;
        SnapshotTakenAt = takenAt;
    }

    /// <summary>What the run executes.</summary>
    public RunPlan Plan { get; }

    /// <summary>When the source snapshot every table reads was taken (source clock); null for a table alone.</summary>
    public DateTimeOffset? SnapshotTakenAt { get; }

    internal static async Task<MigrationRun> StartAsync(
        RunPlan plan, DatabaseEndpoint source, DatabaseEndpoint target, Func<IOperationObserver, TableMigrator> migrator, IOperationObserver observer,
        CancellationToken cancellationToken, string? streamSnapshot = null, DateTimeOffset? streamSnapshotAt = null)
    {
        if (streamSnapshot is not null)
        {
            // A change stream's session: every table, also one alone, reads the slot's snapshot,
            // which the session holds open; the stream then starts exactly where the copy ends.
            var streamed = new MigrationRun(plan, target, migrator, null, null, streamSnapshot, streamSnapshotAt);
            if (plan.TruncateTogether.Count > 0)
            {
                await streamed.TruncateTogetherAsync(observer, cancellationToken).ConfigureAwait(false);
            }

            return streamed;
        }

        if (plan.Groups.Count == 1 && plan.Groups[0].Plans.Count == 1)
        {
            // A table alone reads a snapshot of its own, as it always has (and -Parallel shares its own).
            return new MigrationRun(plan, target, migrator, null, null, null, null);
        }

        var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var transaction = await ReadSnapshot.BeginAsync(connection, observer, cancellationToken).ConfigureAwait(false);
            var exported = await SqlExecutor.ListAsync(connection, "SELECT pg_export_snapshot(), transaction_timestamp()",
                r => (Id: r.GetString(0), At: r.GetFieldValue<DateTimeOffset>(1)), cancellationToken).ConfigureAwait(false);
            var run = new MigrationRun(plan, target, migrator, connection, transaction, exported[0].Id, exported[0].At);
            if (plan.TruncateTogether.Count > 0)
            {
                await run.TruncateTogetherAsync(observer, cancellationToken).ConfigureAwait(false);
            }

            return run;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Loads one group (in plan order) in its own target transaction and returns its tables' results.</summary>
    public async Task<IReadOnlyList<TableMigrationResult>> MigrateGroupAsync(int group, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        var planned = Plan.Groups[group];
        await using var connection = await _target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var results = await _migrator(observer ?? NullObserver.Instance)
            .ExecuteAsync(connection, planned.Plans, new RunContext(_snapshot, planned.CycleKeys), cancellationToken).ConfigureAwait(false);
        return results.Select(r => r with { SourceSnapshotAt = SnapshotTakenAt }).ToList();
    }

    private async Task TruncateTogetherAsync(IOperationObserver observer, CancellationToken cancellationToken)
    {
        await using var connection = await _target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"TRUNCATE {string.Join(", ", Plan.TruncateTogether)}"), observer, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_snapshotTransaction is not null)
        {
            await _snapshotTransaction.DisposeAsync().ConfigureAwait(false);
        }

        if (_snapshotConnection is not null)
        {
            await _snapshotConnection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
