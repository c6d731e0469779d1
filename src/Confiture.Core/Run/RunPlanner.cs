using Confiture.Core.Connections;
using Confiture.Core.Migration;
using Confiture.Core.Record;
using Confiture.Core.Sql;

namespace Confiture.Core.Run;

/// <summary>Plans a run from its tables: each table's plan, their key order, and how they are emptied.</summary>
internal static class RunPlanner
{
    public static async Task<RunPlan> PlanAsync(
        DatabaseEndpoint target, TableMigrator migrator, string foreignSchema, IReadOnlyList<RunTable> tables, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, "A run needs at least one table.", recommendedAction: "Name the tables to migrate (wildcards such as * are allowed).");
        }

        var duplicate = tables.GroupBy(t => (t.Request.TargetSchema, t.Request.EffectiveTargetTable)).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"Target table \"{duplicate.Key.TargetSchema}\".\"{duplicate.Key.EffectiveTargetTable}\" is named more than once in the run ({string.Join(", ", duplicate.Select(t => t.Request.SourceTable))}).",
                duplicate.Key.EffectiveTargetTable, "Give each source table its own target table.");
        }

        var together = tables.Count > 1 && tables.Any(t => t.Request.Truncate);
        if (tables.Count > 1 && tables.Any(t => t.Request.Parallel > 1))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                "-Parallel splits one table; a run of several tables shares one snapshot table by table.", null,
                "Migrate the large table alone with -Parallel, or leave -Parallel out for the run.");
        }

        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await migrator.RestoreFromJournalAsync(connection, cancellationToken).ConfigureAwait(false);
        var plans = new List<MigrationPlan>(tables.Count);
        var failures = new List<(string Table, ConfitureException Error)>();
        foreach (var table in tables)
        {
            // Tables emptied together need no TRUNCATE of their own (and would fail on each other's keys).
            var request = together ? table.Request with { Truncate = false } : table.Request;
            try
            {
                plans.Add(await migrator.PlanAsync(connection, request, table.Strategy, cancellationToken).ConfigureAwait(false));
            }
            catch (ConfitureException ex) when (ex.Kind is not (ConfitureErrorKind.ConnectionFailed or ConfitureErrorKind.AuthenticationFailed))
            {
                // One table that cannot be planned is that table's error; the run goes on without it.
                failures.Add((table.Request.SourceTable, ex));
            }
        }

        var byOid = plans.ToDictionary(p => p.TargetOid);
        var keys = await ForeignKeyGraph.ReadAsync(connection, byOid.Keys, cancellationToken).ConfigureAwait(false);
        if (together || plans.Any(p => p.Request.Truncate))
        {
            // A key -DeferIndexes drops before the TRUNCATE does not stand in its way.
            var outside = keys.FirstOrDefault(k => byOid.TryGetValue(k.To, out var referenced) && !referenced.Request.DeferIndexes && !byOid.ContainsKey(k.From));
            if (outside is not null)
            {
                throw new ConfitureException(ConfitureErrorKind.RunNotPossible,
                    $"{outside.ToName} cannot be emptied: {outside.FromName} references it (key \"{outside.Definition.Name}\") and is not part of the run.",
                    outside.ToName, $"Add {outside.FromName} to the run, or empty it first yourself.");
            }
        }

        // A -DeferIndexes run drops the keys among its tables when it starts and adds them back at its
        // end (RunKeys): its tables then load in any order, as many at once as allowed. It lists them
        // in the record first, so a role that may not write it keeps each key in its table's load.
        var deferred = plans.Count > 1 && plans.All(p => p.Request.DeferIndexes)
                       && (await TargetRecord.AccessAsync(connection, "run_key", "SELECT, INSERT, UPDATE, DELETE", cancellationToken).ConfigureAwait(false)
                           ?? await TargetRecord.MayCreateAsync(connection, cancellationToken).ConfigureAwait(false))
            ? keys.Where(k => k.From != k.To && byOid.ContainsKey(k.From) && byOid.ContainsKey(k.To)).ToList()
            : [];
        keys = keys.Except(deferred).ToList();
        if (deferred.Count > 0)
        {
            // Each table's own -DeferIndexes leaves those keys to the run; and with no key left among
            // the tables, each one emptied by its own load can take its rows frozen (COPY FREEZE).
            var runKeys = deferred.Select(k => (k.Definition.Table, k.Definition.Name)).ToHashSet();
            foreach (var oid in byOid.Keys.ToList())
            {
                var plan = byOid[oid];
                byOid[oid] = plan with
                {
                    Deferred = await DeferredIndexes.CaptureAsync(connection, oid, cancellationToken, runKeys).ConfigureAwait(false),
                    Request = together ? plan.Request with { Truncate = true } : plan.Request,
                };
            }

            together = false;
        }

        var groups = new List<RunGroup>();
        var groupOf = new Dictionary<uint, int>();
        foreach (var members in ForeignKeyGraph.Order(plans.Select(p => p.TargetOid).ToList(), keys))
        {
            var set = members.ToHashSet();
            var parents = keys.Where(k => set.Contains(k.From) && !set.Contains(k.To) && groupOf.ContainsKey(k.To)).Select(k => groupOf[k.To]).Distinct().Order().ToList();
            foreach (var member in members)
            {
                groupOf[member] = groups.Count;
            }

            var cycleKeys = members.Count > 1
                ? keys.Where(k => set.Contains(k.From) && set.Contains(k.To) && k.From != k.To).Select(k => k.Definition).ToList()
                : [];
            var groupPlans = members.Select(m => byOid[m]).ToList();
            if (cycleKeys.Count > 0 && groupPlans.Any(p => p.Request.DeferIndexes))
            {
                throw new ConfitureException(ConfitureErrorKind.RunNotPossible,
                    $"Tables {string.Join(", ", groupPlans.Select(p => p.QualifiedTarget))} reference each other in a cycle; -DeferIndexes cannot drop their keys as well.",
                    groupPlans[0].TargetTable, "Leave -DeferIndexes out for this run.");
            }

            groups.Add(new RunGroup(groupPlans, cycleKeys, parents));
        }

        return new RunPlan(groups, together ? plans.Select(p => p.QualifiedTarget).ToList() : [], foreignSchema) { Failures = failures, DeferredKeys = deferred };
    }
}
