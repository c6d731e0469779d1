using Confiture.Core.Connections;
using Confiture.Core.Migration;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Verification;

/// <summary>
/// Compares a table on each server directly (never through the foreign tables), both at once:
/// row counts, and with a checksum an order-independent digest of the mapped columns that no row
/// has to cross the network for.
/// </summary>
internal static class TableVerifier
{
    /// <summary>
    /// Compares the table as the request says. A checksum comparison is recorded on the target
    /// (confiture.verification) with how both sides stood just before its digests were read, so
    /// the cutover gate can tell later whether either side changed since.
    /// </summary>
    public static async Task<TableVerification> VerifyAsync(
        DatabaseEndpoint source, DatabaseEndpoint target, string sessionSourceSchema, string serverName, VerificationRequest request, MigratedMap? sessionMap,
        IOperationObserver observer, CancellationToken cancellationToken)
    {
        var sourceSchema = request.SourceSchema ?? sessionSourceSchema;
        var targetTable = request.EffectiveTargetTable;
        // A view's rows are computed, a materialized view's may not be there: counting them proves nothing about a migration.
        await SourceTables.RequireTableAsync(source, sourceSchema, request.SourceTable, "verify", cancellationToken).ConfigureAwait(false);
        if (!request.Checksum && !request.Detailed)
        {
            var sourceCount = CountAsync(source, sourceSchema, request.SourceTable, "source", cancellationToken);
            var targetCount = CountAsync(target, request.TargetSchema, targetTable, "target", cancellationToken);
            await Task.WhenAll(sourceCount, targetCount).ConfigureAwait(false);
            return new TableVerification(sourceSchema, request.SourceTable, request.TargetSchema, targetTable,
                await sourceCount.ConfigureAwait(false), await targetCount.ConfigureAwait(false));
        }

        if (request.MaxDifferences < 1)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, "MaxDifferences must be at least 1.", request.SourceTable);
        }

        var sourceInfo = FindAsync(source, sourceSchema, request.SourceTable, "source", cancellationToken);
        TableCatalog.TableInfo targetInfo;
        ConversionSettings settings;
        MigratedMap? recorded;
        await using (var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            targetInfo = await TableCatalog.FindAsync(connection, request.TargetSchema, targetTable, cancellationToken).ConfigureAwait(false)
                ?? throw NotFound(target, request.TargetSchema, targetTable, "target", null);
            settings = await ConversionSettings.ReadAsync(connection, cancellationToken).ConfigureAwait(false);
            recorded = sessionMap ?? await TableMapRecord.ReadAsync(connection, request.TargetSchema, targetTable, cancellationToken).ConfigureAwait(false);
        }

        // A map recorded for another source table says nothing about this comparison.
        if (recorded is not null && (recorded.SourceTable != request.SourceTable || recorded.SourceSchema != sourceSchema))
        {
            recorded = null;
        }

        var sourceColumns = (await sourceInfo.ConfigureAwait(false)).Columns;
        var given = request.ColumnMapping
            ?? (request.Map is null ? null : ColumnMapper.PairsFromMap(request.SourceTable, sourceColumns, targetTable, targetInfo.Columns, request.Map, forWrite: false));
        var coverage = new ColumnCoverage(given, recorded, sessionMap is not null);
        var columns = ColumnMapper.Resolve(request.SourceTable, sourceColumns, targetTable, targetInfo.Columns, coverage.Pairs, forWrite: false);
        var keys = request.Detailed
            ? await KeyColumnsAsync(target, targetInfo.Oid, columns, request.SourceTable, targetTable, cancellationToken).ConfigureAwait(false)
            : [];

        // Read before the digests' snapshots: a change between the two is then seen as one made
        // after the verification (a needless second checksum), never the other way round.
        var sourceMark = Readiness.ChangeCounters.ReadAsync(source, sourceSchema, request.SourceTable, cancellationToken);
        var targetMark = Readiness.ChangeCounters.ReadAsync(target, request.TargetSchema, targetTable, cancellationToken);
        await Task.WhenAll(sourceMark, targetMark).ConfigureAwait(false);

        var sourceSide = DigestSide.OpenAsync(source, SqlText.Qualified(sourceSchema, request.SourceTable),
            columns.Select(c => c.SourceDigestExpression).ToList(), keys.Select(k => k.SourceSideExpression).ToList(), settings, cancellationToken);
        var targetSide = DigestSide.OpenAsync(target, SqlText.Qualified(request.TargetSchema, targetTable),
            columns.Select(c => c.TargetDigestExpression).ToList(), keys.Select(k => SqlText.Identifier(k.Target.Name)).ToList(), settings, cancellationToken);
        await using var left = await sourceSide.ConfigureAwait(false);
        await using var right = await targetSide.ConfigureAwait(false);

        // Both digests finish (or fail) before either side is disposed: a side disposed under a
        // running query would wait on it. Each side reports its blocks as it hashes them.
        var progress = new PhaseProgress(observer, request.SourceTable);
        progress.Begin("Hashing both tables", await BothBlocksAsync(left, right, cancellationToken).ConfigureAwait(false), "blocks");
        var sourceDigest = left.WholeDigestAsync(progress, cancellationToken);
        var targetDigest = right.WholeDigestAsync(progress, cancellationToken);
        await Task.WhenAll(sourceDigest, targetDigest).ConfigureAwait(false);
        var (sourceCountValue, sourceSum) = await sourceDigest.ConfigureAwait(false);
        var (targetCountValue, targetSum) = await targetDigest.ConfigureAwait(false);

        IReadOnlyList<RowDifference> differences = [];
        if (request.Detailed && (sourceSum != targetSum || sourceCountValue != targetCountValue))
        {
            var integerKey = keys.Count == 1 && keys[0].Target.IsInteger;
            differences = await new DifferenceFinder(left, right, integerKey, request.MaxDifferences, progress).FindAsync(cancellationToken).ConfigureAwait(false);
        }

        var verification = new TableVerification(sourceSchema, request.SourceTable, request.TargetSchema, targetTable, sourceCountValue, targetCountValue)
        {
            SourceChecksum = sourceSum,
            TargetChecksum = targetSum,
            Differences = differences,
            MapSource = coverage.Source,
            ComparedColumns = columns.Select(c => c.Pair).ToList(),
            NotCompared = coverage.NotCompared(columns, sourceColumns, targetInfo.Columns),
            Uncovered = coverage.Uncovered(columns),
        };
        if (await sourceMark.ConfigureAwait(false) is { } sourceStood && await targetMark.ConfigureAwait(false) is { } targetStood)
        {
            await VerificationRecord.WriteAsync(target, verification, serverName, sourceStood, targetStood, observer, cancellationToken).ConfigureAwait(false);
        }

        return verification;
    }

    /// <summary>The blocks both sides read for a whole-table pass, for the progress bar's total; null when neither side can tell.</summary>
    internal static async Task<long?> BothBlocksAsync(DigestSide left, DigestSide right, CancellationToken cancellationToken)
    {
        var blocks = await left.BlocksAsync(cancellationToken).ConfigureAwait(false) + await right.BlocksAsync(cancellationToken).ConfigureAwait(false);
        return blocks > 0 ? blocks : null;
    }

    private static async Task<TableCatalog.TableInfo> FindAsync(DatabaseEndpoint endpoint, string schema, string table, string side, CancellationToken cancellationToken)
    {
        await using var connection = await endpoint.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await TableCatalog.FindAsync(connection, schema, table, cancellationToken).ConfigureAwait(false) ?? throw NotFound(endpoint, schema, table, side, null);
    }

    /// <summary>The target's primary key, each column with the source column mapped to it.</summary>
    internal static async Task<IReadOnlyList<MappedColumn>> KeyColumnsAsync(
        DatabaseEndpoint target, uint table, IReadOnlyList<MappedColumn> columns, string sourceTable, string targetTable, CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var names = await SqlExecutor.ListAsync(connection,
            """
            SELECT a.attname FROM pg_index i
            JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) ON true
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n
            """,
            r => r.GetString(0), cancellationToken, table).ConfigureAwait(false);
        var keys = names.Select(n => columns.FirstOrDefault(c => c.Target.Name == n)).ToList();
        if (names.Count == 0 || keys.Any(k => k is null))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"Comparing \"{targetTable}\" row by row needs a primary key on the target whose columns are all mapped.",
                sourceTable, "Add a primary key to the target table (and map its columns).");
        }

        return keys!;
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
            throw NotFound(endpoint, schema, table, side, ex);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new ConfitureException(ConfitureErrorKind.PermissionDenied,
                $"The {side} server denied reading \"{schema}\".\"{table}\": {ex.MessageText}", table,
                $"Grant SELECT on the table to {endpoint.Username}.", ex);
        }
    }

    private static ConfitureException NotFound(DatabaseEndpoint endpoint, string schema, string table, string side, Exception? inner) =>
        new(ConfitureErrorKind.TableNotFound,
            $"Table \"{schema}\".\"{table}\" does not exist in the {side} database {endpoint}.", table,
            side == "target" ? "Pass -TargetTable/-TargetSchema when the target table has another name." : "Check the name and -SourceSchema.", inner);
}
