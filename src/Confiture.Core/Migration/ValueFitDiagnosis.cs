using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// After a load failed because a value does not fit its target column, finds which column and
/// which row, by asking the source (read-only) for the first row whose converted value breaks the
/// target column's length or range. PostgreSQL names neither for an INSERT ... SELECT.
/// </summary>
internal static class ValueFitDiagnosis
{
    /// <summary>
    /// Whether the server error means a value did not fit its column's type: a data exception, or
    /// the CHECK of a domain (a table's own CHECK is a rule of the table, not of the value's type).
    /// </summary>
    public static bool Applies(PostgresException error) =>
        error.SqlState.StartsWith("22", StringComparison.Ordinal)
        || (error.SqlState == PostgresErrorCodes.CheckViolation && error.DataTypeName is not null && error.TableName is null);

    public static async Task<ConfitureException> ExplainAsync(
        DatabaseEndpoint source, MigrationPlan plan, PostgresException error, IReadOnlyList<MappedColumn> keys, string aftermath, CancellationToken cancellationToken)
    {
        var found = await FindAsync(source, plan, error, keys, cancellationToken).ConfigureAwait(false);
        var where = found is null
            ? string.Empty
            : $" Column \"{found.Value.Column.Source.Name}\" -> \"{found.Value.Column.Target.Name}\" ({found.Value.Column.Target.TypeName}), first at source row {found.Value.Row}.";
        return new ConfitureException(ConfitureErrorKind.ValueDoesNotFit,
            $"A value of \"{plan.Request.SourceTable}\" does not fit {plan.QualifiedTarget}: {error.MessageText}.{where} {aftermath}",
            plan.Request.SourceTable,
            "Widen the target column, or change the value on the source; Confiture never cuts a value to make it fit.", error);
    }

    private static async Task<(MappedColumn Column, string Row)?> FindAsync(
        DatabaseEndpoint source, MigrationPlan plan, PostgresException error, IReadOnlyList<MappedColumn> keys, CancellationToken cancellationToken)
    {
        var named = plan.Columns.Where(c => error.Where?.Contains($"column {c.Target.Name}", StringComparison.Ordinal) == true || error.ColumnName == c.Target.Name);
        var candidates = named.Concat(plan.Columns).Distinct().Select(c => (Column: c, Test: DoesNotFit(c))).Where(c => c.Test is not null).ToList();
        if (candidates.Count == 0)
        {
            return null;
        }

        var row = keys.Count > 0
            ? string.Join(" || ' AND ' || ", keys.Select(k => $"{SqlText.Literal(k.Target.Name + " = ")} || ({SqlText.Identifier(k.Source.Name)})::text"))
            : "'ctid = ' || ctid::text";
        try
        {
            await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
            foreach (var (column, test) in candidates)
            {
                await using var transaction = await ReadSnapshot.BeginAsync(connection, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
                await plan.Settings.ApplyAsync(connection, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
                try
                {
                    var hit = await SqlExecutor.ScalarAsync<string>(connection, $"SELECT {row} FROM {plan.QualifiedSource} WHERE {test} LIMIT 1", cancellationToken).ConfigureAwait(false);
                    if (hit is not null)
                    {
                        return (column, hit);
                    }
                }
                catch (PostgresException)
                {
                    // This column's probe cannot run on the source (its value does not even convert there): try the next.
                }
            }
        }
        catch (ConfitureException)
        {
            // The source is out of reach: the server's own message is all there is to say.
        }

        return null;
    }

    /// <summary>A condition true for the source rows whose value breaks the target column's length or range.</summary>
    private static string? DoesNotFit(MappedColumn column)
    {
        var value = column.SourceSideExpression;
        var raw = SqlText.Identifier(column.Source.Name);
        var typmod = column.Target.Shape.Typmod;
        return column.Target.Shape.BaseOid switch
        {
            // Trailing spaces beyond the length are cut by assignment without an error; anything else is refused.
            1042 or 1043 when typmod > 4 => $"length(rtrim(({value})::text, ' ')) > {Number(typmod - 4)}",
            1562 when typmod > 0 => $"length(({raw})::varbit) > {Number(typmod)}",
            1560 when typmod > 0 => $"length(({raw})::varbit) <> {Number(typmod)}",
            21 => $"({raw})::numeric NOT BETWEEN -32768 AND 32767",
            23 => $"({raw})::numeric NOT BETWEEN -2147483648 AND 2147483647",
            20 => $"({raw})::numeric NOT BETWEEN -9223372036854775808 AND 9223372036854775807",
            1700 when typmod > 4 => NumericOverflow(raw, typmod),
            _ => null,
        };
    }

    private static string NumericOverflow(string raw, int typmod)
    {
        var precision = ((typmod - 4) >> 16) & 0xFFFF;
        var scale = (typmod - 4) & 0xFFFF;
        return $"abs(round(({raw})::numeric, {Number(scale)})) >= 1e{Number(precision - scale)}";
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
