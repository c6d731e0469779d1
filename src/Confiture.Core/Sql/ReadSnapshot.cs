using System.Data;
using Npgsql;

namespace Confiture.Core.Sql;

/// <summary>
/// How Confiture reads the source: one REPEATABLE READ, read-only transaction, so every query of an
/// operation sees the same rows, optionally joining a snapshot another session exported.
/// </summary>
internal static class ReadSnapshot
{
    /// <param name="connection">An open connection with no transaction.</param>
    /// <param name="observer">Told about the statements.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    /// <param name="snapshot">A snapshot id from <c>pg_export_snapshot()</c> to share, or null for a new one.</param>
    public static async Task<NpgsqlTransaction> BeginAsync(
        NpgsqlConnection connection, IOperationObserver observer, CancellationToken cancellationToken, string? snapshot = null)
    {
        var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        if (snapshot is not null)
        {
            // Must come before any query of the transaction.
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"SET TRANSACTION SNAPSHOT {SqlText.Literal(snapshot)}"), observer, cancellationToken).ConfigureAwait(false);
        }

        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain("SET TRANSACTION READ ONLY"), observer, cancellationToken).ConfigureAwait(false);
        return transaction;
    }
}
