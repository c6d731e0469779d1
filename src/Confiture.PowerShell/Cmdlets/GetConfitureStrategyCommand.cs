using System.Diagnostics;
using System.Management.Automation;
using Confiture.Core.Migration;
using Confiture.Core.Planning;
using Confiture.PowerShell.Completion;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Sizes the source tables and advises the faster strategy for each.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "ConfitureStrategy")]
[OutputType(typeof(ConfitureStrategy))]
public sealed class GetConfitureStrategyCommand : ConfitureCmdlet
{
    /// <summary>The session; left out, the last one made in this session.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>Only these source tables; left out, every table of the schema.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string[]? Table { get; set; }

    /// <summary>The source schema; left out, the session's.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceSchemaCompleter))]
    public string? Schema { get; set; }

    /// <summary>Tables with at least this many rows use COPY.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long CopyThreshold { get; set; } = 10_000_000;

    /// <summary>Expected rows per second through postgres_fdw, for the time estimate.</summary>
    [Parameter]
    [ValidateRange(1, double.MaxValue)]
    public double FdwRowsPerSecond { get; set; } = 500_000;

    /// <summary>Expected rows per second through COPY, for the time estimate.</summary>
    [Parameter]
    [ValidateRange(1, double.MaxValue)]
    public double CopyRowsPerSecond { get; set; } = 6_000_000;

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        var options = new StrategyOptions { CopyThreshold = CopyThreshold, FdwRowsPerSecond = FdwRowsPerSecond, CopyRowsPerSecond = CopyRowsPerSecond };
        Guard(() =>
        {
            var clock = Stopwatch.StartNew();
            var plans = Run((_, token) => migration.Migrator.AnalyzeTablesAsync(Schema, Table, options, token));
            WriteVerbose($"[{clock.ElapsedMilliseconds} ms] Sized {plans.Count} table(s) of schema \"{Schema ?? migration.SourceSchema}\" on {migration.Source} "
                + "from pg_class.reltuples (count(*) where never analyzed)");
            foreach (var plan in plans)
            {
                var choice = plan.Strategy == MigrationStrategy.Copy ? StrategyChoice.Copy : StrategyChoice.Fdw;
                WriteObject(new ConfitureStrategy(plan.Table, plan.Schema, plan.RowCount, plan.IsExact, choice, plan.EstimatedSeconds, migration));
            }
        }, target: Schema ?? migration.SourceSchema, terminating: false);
    }
}
