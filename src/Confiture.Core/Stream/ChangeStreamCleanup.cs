using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Stream;

/// <summary>
/// Drops a session's slot and publication on the source. An abandoned slot keeps every WAL file
/// from its position on, until the source's disk fills: so a WAL sender still holding our slot
/// (a Sync-ConfitureMigration killed a moment ago, whose connection the source has not noticed
/// yet) is ended first. Only the objects named are touched; one already gone is no error.
/// </summary>
internal static class ChangeStreamCleanup
{
    private static readonly TimeSpan ReleaseWait = TimeSpan.FromSeconds(15);

    public static async Task DropAsync(DatabaseEndpoint source, string? slot, string? publication, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await DropAsync(connection, slot, publication, observer, cancellationToken).ConfigureAwait(false);
    }

    public static async Task DropAsync(NpgsqlConnection connection, string? slot, string? publication, IOperationObserver observer, CancellationToken cancellationToken)
    {
        if (slot is not null)
        {
            await DropSlotAsync(connection, slot, observer, cancellationToken).ConfigureAwait(false);
        }

        if (publication is not null)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"DROP PUBLICATION IF EXISTS {SqlText.Identifier(publication)}"), observer, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task DropSlotAsync(NpgsqlConnection connection, string slot, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + ReleaseWait;
        while (true)
        {
            var found = await SqlExecutor.ListAsync(connection,
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                r => r.IsDBNull(0) ? (int?)null : r.GetInt32(0), cancellationToken, slot).ConfigureAwait(false);
            if (found.Count == 0)
            {
                return;
            }

            if (found[0] is { } pid)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                        $"The replication slot \"{slot}\" on the source is still in use by process {pid}, which did not end within {ReleaseWait.TotalSeconds:0} s.",
                        slot, $"End that process on the source (SELECT pg_terminate_backend({pid})), then run Remove-ConfitureFdw again.");
                }

                await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain("SELECT pg_terminate_backend($1)"), observer, cancellationToken, pid).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain("SELECT pg_drop_replication_slot($1)"), observer, cancellationToken, slot).ConfigureAwait(false);
                return;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ObjectInUse && DateTime.UtcNow < deadline)
            {
                // Taken again between the look and the drop: look again.
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedObject)
            {
                return;
            }
        }
    }
}
