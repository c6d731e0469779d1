using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using Confiture.Core.Catalog;
using Confiture.Core.Migration;
using Confiture.Core.Planning;
using Confiture.PowerShell.Completion;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Sizes the session's source tables, times a sample of each through both paths, and advises the faster strategy.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "ConfitureStrategy")]
[OutputType(typeof(ConfitureStrategy))]
public sealed class GetConfitureStrategyCommand : ConfitureCmdlet
{
    /// <summary>The session; left out, the last one made in this session.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>Only these source tables; wildcards match the session's tables. Left out, the session's tables (with -Schema of another schema, every table of it).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string[]? Table { get; set; }

    /// <summary>Leaves these tables out; wildcards allowed.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string[]? ExcludeTable { get; set; }

    /// <summary>The source schema; left out, the session's.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceSchemaCompleter))]
    public string? Schema { get; set; }

    /// <summary>Decides by rows instead of by the sampled cost: tables with at least this many rows use COPY, the others Fdw.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long? CopyThreshold { get; set; }

    /// <summary>Estimates Fdw as rows / this figure instead of from the sample.</summary>
    [Parameter]
    [ValidateRange(1, double.MaxValue)]
    public double? FdwRowsPerSecond { get; set; }

    /// <summary>Estimates Copy as rows / this figure instead of from the sample.</summary>
    [Parameter]
    [ValidateRange(1, double.MaxValue)]
    public double? CopyRowsPerSecond { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        var options = new StrategyOptions { CopyThreshold = CopyThreshold, FdwRowsPerSecond = FdwRowsPerSecond, CopyRowsPerSecond = CopyRowsPerSecond };
        var schema = Schema ?? migration.SourceSchema;
        Guard(() =>
        {
            if (!Select(migration, schema, out var tables))
            {
                return;
            }

            var clock = Stopwatch.StartNew();
            var plans = Run((_, token) => migration.Migrator.AnalyzeTablesAsync(Schema, tables, options, migration.Map, token));
            WriteVerbose($"[{clock.ElapsedMilliseconds} ms] Sized {plans.Count} table(s) of schema \"{schema}\" on {migration.Source} and timed samples of them through both strategies; "
                + $"a run of them all with Copy, one table at a time: about {plans.Sum(p => p.CopySeconds).ToString("0.0", CultureInfo.InvariantCulture)} s");
            foreach (var plan in plans)
            {
                WriteVerbose($"{plan.Table}: {plan.Strategy} {plan.EstimatedSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s ({plan.Basis}): {string.Join("; ", plan.Assumptions)}");
                var choice = plan.Strategy == MigrationStrategy.Copy ? StrategyChoice.Copy : StrategyChoice.Fdw;
                WriteObject(new ConfitureStrategy(plan.Table, plan.Schema, plan.RowCount, plan.IsExact, choice, plan.EstimatedSeconds, migration)
                {
                    SizeBytes = plan.SizeBytes,
                    RowWidth = plan.RowWidth,
                    CopySeconds = plan.CopySeconds,
                    FdwSeconds = plan.FdwSeconds,
                    Basis = plan.Basis,
                    Assumptions = [.. plan.Assumptions],
                });
            }
        }, target: schema, terminating: false);
    }

    /// <summary>
    /// The tables to plan: -Table and -ExcludeTable against the session's tables (views left out),
    /// or, for another schema than the session's, against that schema's tables. False when nothing is left.
    /// </summary>
    private bool Select(ConfitureMigration migration, string schema, out IReadOnlyList<string>? tables)
    {
        tables = null;
        var sessionSchema = schema == migration.SourceSchema;
        if (!sessionSchema && Table is null && ExcludeTable is null)
        {
            // Every table of that schema: the planner lists them, and names a schema that does not exist.
            return true;
        }

        var names = sessionSchema
            ? migration.Tables
            : Run((_, token) => CatalogBrowser.TablesAsync(migration.Migrator.Source, schema, cancellationToken: token));
        var candidates = Run((_, token) => migration.Migrator.TablesAmongAsync(names, schema, token));
        var (selected, errors, warnings) = TableSelection.Select(Table, ExcludeTable, candidates);
        foreach (var error in errors)
        {
            WriteError(ErrorRecords.From(error, error.Target));
        }

        foreach (var warning in warnings)
        {
            WriteWarning(warning);
        }

        tables = selected;
        if (selected.Count == 0 && errors.Count == 0)
        {
            WriteWarning(Table is null && ExcludeTable is null
                ? $"The session has no table in schema \"{schema}\" to plan."
                : "-ExcludeTable left no table to plan.");
        }

        return selected.Count > 0;
    }
}
