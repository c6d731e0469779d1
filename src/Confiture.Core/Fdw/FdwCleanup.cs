using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>
/// Removes what setup made on the target: this server's foreign tables, its user mappings (one of
/// them holds the source password), the server, and the foreign schema when Confiture created it
/// and nothing else is left in it. Running it again finds nothing to do.
/// </summary>
internal sealed class FdwCleanup(DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    /// <summary>Inspects the target and returns the statements cleanup would run; changes nothing.</summary>
    public async Task<FdwPlan> PlanAsync(CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await PlanAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs cleanup in one target transaction and reports what it left in place.</summary>
    public async Task<FdwPlan> ApplyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var plan = await PlanAsync(connection, cancellationToken).ConfigureAwait(false);
        foreach (var statement in plan.Statements)
        {
            try
            {
                await SqlExecutor.ExecuteAsync(connection, statement, observer, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex)
            {
                throw new ConfitureException(
                    ex.SqlState == PostgresErrorCodes.InsufficientPrivilege ? ConfitureErrorKind.PermissionDenied : ConfitureErrorKind.FdwSetupFailed,
                    $"Removing the postgres_fdw objects failed at \"{statement.Display}\": {ex.MessageText}", settings.ServerName,
                    "Nothing was removed; run as the role that ran Enable-ConfitureFdw (the server's owner) or a superuser.", ex);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var warning in plan.Warnings)
        {
            observer.Warning(warning);
        }

        return plan;
    }

    private async Task<FdwPlan> PlanAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var statements = new List<SqlStatement>();
        var warnings = new List<string>();
        var server = await TargetCatalog.FindServerAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        var dropped = new List<string>();
        if (server is not null)
        {
            if (!ConfitureMarker.IsOurs(server.Comment))
            {
                throw new ConfitureException(ConfitureErrorKind.ServerNotOwned,
                    $"The foreign server \"{settings.ServerName}\" on the target was not created by Confiture; it is left alone.",
                    settings.ServerName, "Check -ServerName; Confiture only removes what it created.");
            }

            foreach (var (schema, table) in await TargetCatalog.ForeignTablesAsync(connection, server.Oid, null, cancellationToken).ConfigureAwait(false))
            {
                statements.Add(SqlStatement.Plain($"DROP FOREIGN TABLE {SqlText.Qualified(schema, table)}"));
                dropped.Add(table);
            }

            var mappings = await SqlExecutor.ListAsync(connection,
                "SELECT umuser = 0, usename::text FROM pg_user_mappings WHERE srvid = $1 ORDER BY 2",
                r => r.GetBoolean(0) ? "PUBLIC" : SqlText.Identifier(r.GetString(1)), cancellationToken, server.Oid).ConfigureAwait(false);
            var serverName = SqlText.Identifier(settings.ServerName);
            statements.AddRange(mappings.Select(user => SqlStatement.Plain($"DROP USER MAPPING FOR {user} SERVER {serverName}")));
            statements.Add(SqlStatement.Plain($"DROP SERVER {serverName}"));
        }

        var foreignSchema = await TargetCatalog.FindSchemaAsync(connection, settings.ForeignSchema, cancellationToken).ConfigureAwait(false);
        if (foreignSchema is not null && ConfitureMarker.IsOurs(foreignSchema.Comment))
        {
            var left = await TargetCatalog.OtherObjectsInSchemaAsync(connection, foreignSchema.Oid, server?.Oid, cancellationToken).ConfigureAwait(false);
            if (left.Count == 0)
            {
                statements.Add(SqlStatement.Plain($"DROP SCHEMA {SqlText.Identifier(settings.ForeignSchema)}"));
            }
            else
            {
                warnings.Add($"Schema \"{settings.ForeignSchema}\" was left in place because it still holds objects Confiture did not create: {string.Join(", ", left.Take(10))}{(left.Count > 10 ? $" and {left.Count - 10} more" : string.Empty)}.");
            }
        }

        return new FdwPlan(statements, warnings, dropped);
    }
}
