using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Verification;

/// <summary>
/// Counts a table on each server directly (never through the foreign tables), both at once.
/// </summary>
internal static class TableVerifier
{
    public static async Task<TableVerification> VerifyAsync(
        DatabaseEndpoint source, DatabaseEndpoint target,
        string sourceSchema, string sourceTable, string targetSchema, string targetTable,
        CancellationToken cancellationToken)
    {
        var sourceCount = CountAsync(source, sourceSchema, sourceTable, "source", cancellationToken);
        var targetCount = CountAsync(target, targetSchema, targetTable, "target", cancellationToken);
        await Task.WhenAll(sourceCount, targetCount).ConfigureAwait(false);
        return new TableVerification(sourceSchema, sourceTable, targetSchema, targetTable, await sourceCount.ConfigureAwait(false), await targetCount.ConfigureAwait(false));
    }

    private static async Task<long> CountAsync(DatabaseEndpoint endpoint, string schema, string table, string side, CancellationToken cancellationToken)
    {
        await using var connection = await endpoint.OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await SqlExecutor.ScalarAsync<long>(connection, $"SELECT count(*) FROM {SqlText.Qualified(schema, table)}", cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            throw new ConfitureException(ConfitureErrorKind.TableNotFound,
                $"Table \"{schema}\".\"{table}\" does not exist in the {side} database {endpoint}.", table,
                side == "target" ? "Pass -TargetTable/-TargetSchema when the target table has another name." : "Check the name and -SourceSchema.", ex);
        }
    }
}
