using System.Data;
using System.Diagnostics;
using Confiture.Core.Connections;
using Confiture.Core.Fdw;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Moves one table in one target transaction: all rows or none. Checks the mapping against both
/// catalogs first, refuses a non-empty target unless told to replace or append, and moves identity
/// and serial sequences past the migrated values.
/// </summary>
internal sealed class TableMigrator(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    private static readonly HashSet<uint> IntegerTypes = [20, 21, 23];

    public async Task<TableMigrationResult> MigrateAsync(TableMigrationRequest request, MigrationStrategy strategy, CancellationToken cancellationToken)
    {
        Validate(request);
        var clock = Stopwatch.StartNew();
        var sourceSchema = string.IsNullOrEmpty(request.SourceSchema) ? settings.SourceSchema : request.SourceSchema;
        var targetTable = request.EffectiveTargetTable;

        await using var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var targetInfo = await TableCatalog.FindAsync(targetConnection, request.TargetSchema, targetTable, cancellationToken).ConfigureAwait(false);
        if (targetInfo is null || targetInfo.Kind is not ('r' or 'p'))
        {
            throw new ConfitureException(ConfitureErrorKind.TableNotFound,
                $"Table \"{request.TargetSchema}\".\"{targetTable}\" does not exist in the target database {target}.",
                targetTable, "Create the target schema first (Confiture moves data, not DDL), or pass -TargetTable/-TargetSchema.");
        }

        var sourceColumns = strategy == MigrationStrategy.Fdw
            ? await ForeignColumnsAsync(targetConnection, sourceSchema, request.SourceTable, cancellationToken).ConfigureAwait(false)
            : await SourceColumnsAsync(sourceSchema, request.SourceTable, cancellationToken).ConfigureAwait(false);
        var columns = ColumnMapper.Resolve(request.SourceTable, sourceColumns, targetTable, targetInfo.Columns, request.ColumnMapping);

        var qualifiedTarget = SqlText.Qualified(request.TargetSchema, targetTable);
        long rows;
        try
        {
            await using var transaction = await targetConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await PrepareTargetAsync(targetConnection, request, qualifiedTarget, cancellationToken).ConfigureAwait(false);
            rows = strategy == MigrationStrategy.Fdw
                ? await InsertSelectAsync(targetConnection, request, qualifiedTarget, columns, cancellationToken).ConfigureAwait(false)
                : await CopyAsync(targetConnection, request, sourceSchema, qualifiedTarget, targetInfo.Kind, columns, clock, cancellationToken).ConfigureAwait(false);
            await MoveSequencesAsync(targetConnection, request.TargetSchema, targetTable, columns, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw Failed(ex, request.SourceTable, targetTable);
        }

        return new TableMigrationResult(sourceSchema, request.SourceTable, request.TargetSchema, targetTable, strategy, rows, clock.Elapsed,
            columns.Select(c => c.Pair).ToList());
    }

    private static void Validate(TableMigrationRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.SourceTable))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, "SourceTable cannot be empty.", recommendedAction: "Name the source table to migrate.");
        }

        if (string.IsNullOrWhiteSpace(request.TargetSchema))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, "TargetSchema cannot be empty.", request.SourceTable, "Leave -TargetSchema out for public.");
        }

        if (request.Truncate && request.Append)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                "Truncate and Append cannot be used together.", request.SourceTable,
                "Use -Truncate to replace the target's rows, or -Append to add to them.");
        }
    }

    private async Task<IReadOnlyList<TableColumn>> SourceColumnsAsync(string schema, string table, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var info = await TableCatalog.FindAsync(connection, schema, table, cancellationToken).ConfigureAwait(false);
        return info?.Columns ?? throw new ConfitureException(ConfitureErrorKind.TableNotFound,
            $"Table \"{schema}\".\"{table}\" does not exist in the source database {source}.",
            table, "Check the name (it is case-sensitive) and -SourceSchema.");
    }

    private async Task<IReadOnlyList<TableColumn>> ForeignColumnsAsync(NpgsqlConnection connection, string sourceSchema, string table, CancellationToken cancellationToken)
    {
        if (sourceSchema != settings.SourceSchema)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"The Fdw strategy reads the foreign tables imported from schema \"{settings.SourceSchema}\", not \"{sourceSchema}\".",
                table, "Use -Strategy Copy, or run Enable-ConfitureFdw with -SourceSchema for that schema.");
        }

        var info = await TableCatalog.FindAsync(connection, settings.ForeignSchema, table, cancellationToken).ConfigureAwait(false);
        return info?.Columns ?? throw new ConfitureException(ConfitureErrorKind.TableNotFound,
            $"No foreign table \"{settings.ForeignSchema}\".\"{table}\" on the target: \"{table}\" was not imported from the source.",
            table, "Check the name (it is case-sensitive), or run Enable-ConfitureFdw again (with this table in -Table).");
    }

    private async Task PrepareTargetAsync(NpgsqlConnection connection, TableMigrationRequest request, string qualifiedTarget, CancellationToken cancellationToken)
    {
        if (request.Truncate)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"TRUNCATE {qualifiedTarget}"), observer, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (request.Append)
        {
            return;
        }

        var hasRows = await SqlExecutor.ScalarAsync<bool>(connection, $"SELECT EXISTS (SELECT 1 FROM {qualifiedTarget})", cancellationToken).ConfigureAwait(false);
        if (hasRows)
        {
            throw new ConfitureException(ConfitureErrorKind.TargetNotEmpty,
                $"Target table {qualifiedTarget} already holds rows.", request.EffectiveTargetTable,
                "Use -Truncate to replace its rows (in the same transaction), or -Append to add to them.");
        }
    }

    private async Task<long> InsertSelectAsync(NpgsqlConnection connection, TableMigrationRequest request, string qualifiedTarget, IReadOnlyList<MappedColumn> columns, CancellationToken cancellationToken)
    {
        // One statement: the target server pulls the rows itself, in one remote REPEATABLE READ snapshot.
        var overriding = columns.Any(c => c.Target.Identity == 'a') ? " OVERRIDING SYSTEM VALUE" : string.Empty;
        var sql = $"INSERT INTO {qualifiedTarget} ({SqlText.IdentifierList(columns.Select(c => c.Target.Name))}){overriding} " +
                  $"SELECT {string.Join(", ", columns.Select(c => c.TargetSideExpression))} FROM {SqlText.Qualified(settings.ForeignSchema, request.SourceTable)}";
        return await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(sql), observer, cancellationToken).ConfigureAwait(false);
    }

    private async Task<long> CopyAsync(
        NpgsqlConnection targetConnection, TableMigrationRequest request, string sourceSchema, string qualifiedTarget, char targetKind,
        IReadOnlyList<MappedColumn> columns, Stopwatch clock, CancellationToken cancellationToken)
    {
        // Arrays of user types and composites carry server-specific type OIDs in binary: text is portable.
        var binary = !columns.Any(c => c.Target.NeedsTextCopy);
        var format = binary ? "binary" : "text";
        var freeze = request.Truncate && targetKind == 'r' ? ", FREEZE" : string.Empty;
        var exportSql = $"COPY (SELECT {string.Join(", ", columns.Select(c => c.SourceSideExpression))} FROM {SqlText.Qualified(sourceSchema, request.SourceTable)}) TO STDOUT (FORMAT {format})";
        var importSql = $"COPY {qualifiedTarget} ({SqlText.IdentifierList(columns.Select(c => c.Target.Name))}) FROM STDIN (FORMAT {format}{freeze})";

        await using var sourceConnection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var snapshot = await sourceConnection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(sourceConnection, SqlStatement.Plain("SET TRANSACTION READ ONLY"), observer, cancellationToken).ConfigureAwait(false);
        if (!binary)
        {
            const string textSettings = "SET LOCAL DateStyle = ISO, YMD; SET LOCAL IntervalStyle = postgres; SET LOCAL extra_float_digits = 3";
            await SqlExecutor.ExecuteAsync(sourceConnection, SqlStatement.Plain(textSettings), observer, cancellationToken).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(targetConnection, SqlStatement.Plain(textSettings), observer, cancellationToken).ConfigureAwait(false);
        }

        var started = Stopwatch.GetTimestamp();
        var counter = new CopyRowCounter(binary);
        void Report(long done, TimeSpan _) => observer.Progress(new MigrationProgress(request.SourceTable, done, request.ExpectedRows, clock.Elapsed));
        var rows = binary
            ? await RelayBinaryAsync(sourceConnection, targetConnection, exportSql, importSql, counter, Report, cancellationToken).ConfigureAwait(false)
            : await RelayTextAsync(sourceConnection, targetConnection, exportSql, importSql, counter, Report, cancellationToken).ConfigureAwait(false);
        observer.Statement(exportSql, Stopwatch.GetElapsedTime(started));
        observer.Statement(importSql, Stopwatch.GetElapsedTime(started));
        Report(rows, TimeSpan.Zero);
        return rows;
    }

    private static async Task<long> RelayBinaryAsync(
        NpgsqlConnection sourceConnection, NpgsqlConnection targetConnection, string exportSql, string importSql,
        CopyRowCounter counter, Action<long, TimeSpan> report, CancellationToken cancellationToken)
    {
        var export = await sourceConnection.BeginRawBinaryCopyAsync(exportSql, cancellationToken).ConfigureAwait(false);
        NpgsqlRawCopyStream? import = null;
        try
        {
            import = await targetConnection.BeginRawBinaryCopyAsync(importSql, cancellationToken).ConfigureAwait(false);
            var rows = await CopyRelay.RunAsync(export, import, counter, report, cancellationToken).ConfigureAwait(false);
            await export.DisposeAsync().ConfigureAwait(false);
            await import.DisposeAsync().ConfigureAwait(false);
            return rows;
        }
        catch
        {
            // Tell the target the COPY failed (it rolls back with the transaction) and stop the export.
            await QuietlyAsync(import is null ? null : import.CancelAsync).ConfigureAwait(false);
            await QuietlyAsync(export.CancelAsync).ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<long> RelayTextAsync(
        NpgsqlConnection sourceConnection, NpgsqlConnection targetConnection, string exportSql, string importSql,
        CopyRowCounter counter, Action<long, TimeSpan> report, CancellationToken cancellationToken)
    {
        var export = await sourceConnection.BeginTextExportAsync(exportSql, cancellationToken).ConfigureAwait(false);
        NpgsqlCopyTextWriter? import = null;
        try
        {
            import = await targetConnection.BeginTextImportAsync(importSql, cancellationToken).ConfigureAwait(false);
            var rows = await CopyRelay.RunTextAsync(export, import, counter, report, cancellationToken).ConfigureAwait(false);
            await export.DisposeAsync().ConfigureAwait(false);
            await import.DisposeAsync().ConfigureAwait(false);
            return rows;
        }
        catch
        {
            await QuietlyAsync(import is null ? null : import.CancelAsync).ConfigureAwait(false);
            await QuietlyAsync(export.CancelAsync).ConfigureAwait(false);
            throw;
        }
    }

    private async Task MoveSequencesAsync(NpgsqlConnection connection, string schema, string table, IReadOnlyList<MappedColumn> columns, CancellationToken cancellationToken)
    {
        var qualified = SqlText.Qualified(schema, table);
        foreach (var column in columns.Where(c => IntegerTypes.Contains(c.Target.TypeOid)))
        {
            var sequence = await SqlExecutor.ScalarAsync<string>(connection,
                "SELECT pg_get_serial_sequence($1, $2)", cancellationToken, qualified, column.Target.Name).ConfigureAwait(false);
            if (sequence is null)
            {
                continue;
            }

            // Only ever forward: an appended table may already be past the migrated values.
            var statement = SqlStatement.Plain(
                $"SELECT setval($1::regclass, m) FROM (SELECT max({SqlText.Identifier(column.Target.Name)})::bigint AS m FROM {qualified}) s " +
                "WHERE m IS NOT NULL AND m > coalesce(pg_sequence_last_value($1::regclass), m - 1)");
            await SqlExecutor.ExecuteAsync(connection, statement, observer, cancellationToken, sequence).ConfigureAwait(false);
        }
    }

    private static async Task QuietlyAsync(Func<Task>? action)
    {
        if (action is null)
        {
            return;
        }

        try
        {
            await action().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            // The original failure is the one worth reporting.
        }
    }

    private static ConfitureException Failed(PostgresException ex, string sourceTable, string targetTable)
    {
        var kind = ex.SqlState switch
        {
            PostgresErrorCodes.InsufficientPrivilege => ConfitureErrorKind.PermissionDenied,
            PostgresErrorCodes.FdwUnableToEstablishConnection or PostgresErrorCodes.SqlClientUnableToEstablishSqlConnection => ConfitureErrorKind.FdwConnectionFailed,
            _ => ConfitureErrorKind.MigrationFailed,
        };
        return new ConfitureException(kind,
            $"Migrating \"{sourceTable}\" into \"{targetTable}\" failed: {ex.MessageText}. The target was rolled back; no row was written.",
            sourceTable, "Fix the cause (the message names it) and run the migration again.", ex);
    }
}
