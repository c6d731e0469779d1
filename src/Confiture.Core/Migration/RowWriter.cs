using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Brings target rows in line with source rows staged on the target, by set operations inside the
/// caller's transaction: a changed row is updated in place (its children, cascades and restricting
/// keys never see a delete), a row the source lacks is deleted, a new one inserted. The staged rows
/// stream from the source through COPY, so no row is held by this process.
/// </summary>
internal sealed class RowWriter(MigrationPlan plan, IReadOnlyList<MappedColumn> keys, IOperationObserver observer)
{
    private const string Staging = "pg_temp.confiture_sync";

    /// <summary>Above this, the staged rows get statistics, so the joins below are planned for their size.</summary>
    private const long AnalyzeFrom = 10_000;

    private readonly string _columns = plan.TargetColumnList;

    private readonly List<string> _nonKeys = plan.Columns
        .Where(c => keys.All(k => k.Target.Name != c.Target.Name))
        .Select(c => SqlText.Identifier(c.Target.Name))
        .ToList();

    private uint _staging;

    /// <summary>An empty table of the target's column types, dropped at commit or rollback.</summary>
    public async Task CreateStagingAsync(NpgsqlConnection target, CancellationToken cancellationToken)
    {
        await SqlExecutor.ExecuteAsync(target, SqlStatement.Plain(
            $"CREATE TEMP TABLE confiture_sync ON COMMIT DROP AS SELECT {_columns} FROM {plan.QualifiedTarget} WITH NO DATA"), observer, cancellationToken).ConfigureAwait(false);
        _staging = await TemporaryTableOidAsync(target, Staging, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Copies the source rows the export selects into the staging table.</summary>
    public async Task<long> StageAsync(
        NpgsqlConnection source, NpgsqlConnection target, TableMigrator migrator, string exportSql, CancellationToken cancellationToken)
    {
        var import = $"COPY {Staging} ({_columns}) FROM STDIN (FORMAT {(plan.Binary ? "binary" : "text")})";
        // The copy counts what the table it names stored: the staging table, not the target.
        var rows = await migrator.CopyPartAsync(source, target, plan with { TargetOid = _staging }, exportSql, import, _ => { }, cancellationToken).ConfigureAwait(false);
        if (rows >= AnalyzeFrom)
        {
            await SqlExecutor.ExecuteAsync(target, SqlStatement.Plain($"ANALYZE {Staging}"), observer, cancellationToken).ConfigureAwait(false);
        }

        return rows;
    }

    /// <summary>Deletes the target rows matching the condition whose key is not staged: rows gone from the source.</summary>
    public Task<int> DeleteUnstagedAsync(NpgsqlConnection target, string targetWhere, CancellationToken cancellationToken) =>
        SqlExecutor.ExecuteAsync(target, SqlStatement.Plain(
            $"DELETE FROM {plan.QualifiedTarget} t WHERE ({targetWhere}) AND NOT EXISTS (SELECT 1 FROM {Staging} s WHERE {KeysMatch(keys, "s", "t")})"),
            observer, cancellationToken);

    /// <summary>
    /// Updates the rows whose staged values differ. Compared as text, as the digests compare them:
    /// a difference a digest sees is one the update writes (numeric 1.0 and 1.00 are equal to =,
    /// not to a checksum), and types without an equality operator (json, point) compare too.
    /// </summary>
    public async Task<int> UpdateAsync(NpgsqlConnection target, CancellationToken cancellationToken)
    {
        if (_nonKeys.Count == 0)
        {
            return 0;
        }

        string Row(string alias) => $"ROW({string.Join(", ", _nonKeys.Select(c => alias + "." + c))})";
        return await SqlExecutor.ExecuteAsync(target, SqlStatement.Plain(
            $"UPDATE {plan.QualifiedTarget} t SET ({string.Join(", ", _nonKeys)}) = {Row("s")} FROM {Staging} s " +
            $"WHERE {KeysMatch(keys, "s", "t")} AND {Row("t")}::text IS DISTINCT FROM {Row("s")}::text"),
            observer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Inserts the staged rows whose key the target lacks.</summary>
    public Task<int> InsertAsync(NpgsqlConnection target, CancellationToken cancellationToken)
    {
        var overriding = plan.Columns.Any(c => c.Target.Identity == 'a') ? " OVERRIDING SYSTEM VALUE" : string.Empty;
        return SqlExecutor.ExecuteAsync(target, SqlStatement.Plain(
            $"INSERT INTO {plan.QualifiedTarget} ({_columns}){overriding} SELECT {_columns} FROM {Staging} s " +
            $"WHERE NOT EXISTS (SELECT 1 FROM {plan.QualifiedTarget} t WHERE {KeysMatch(keys, "s", "t")})"),
            observer, cancellationToken);
    }

    public Task ClearStagingAsync(NpgsqlConnection target, CancellationToken cancellationToken) =>
        SqlExecutor.ExecuteAsync(target, SqlStatement.Plain($"TRUNCATE {Staging}"), observer, cancellationToken);

    public static async Task<uint> TemporaryTableOidAsync(NpgsqlConnection target, string table, CancellationToken cancellationToken) =>
        await SqlExecutor.ScalarAsync<uint>(target, $"SELECT {SqlText.Literal(table)}::regclass::oid", cancellationToken).ConfigureAwait(false);

    /// <summary>The key columns of two aliases equal, column by column (so the key's index serves).</summary>
    public static string KeysMatch(IReadOnlyList<MappedColumn> keys, string left, string right) =>
        string.Join(" AND ", keys.Select(k => $"{left}.{SqlText.Identifier(k.Target.Name)} = {right}.{SqlText.Identifier(k.Target.Name)}"));
}
