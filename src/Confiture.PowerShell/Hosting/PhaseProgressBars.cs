using System.Globalization;
using System.Management.Automation;
using Confiture.Core;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// The progress bars of work on tables that goes through phases (a sync, a checksum), written on
/// the pipeline thread: a bar per table saying its phase and how far it is, under one bar for the
/// call when it works on several tables. Every bar it opened ends with a Completed record, also
/// when the work failed or was stopped.
/// </summary>
/// <param name="cmdlet">The cmdlet that writes the records.</param>
/// <param name="nextId">Hands out the cmdlet's progress ids, so no two bars share one.</param>
/// <param name="verb">What is done to each table ("Verifying", "Syncing").</param>
/// <param name="several">Whether the call works on several tables: then one bar for the call stands above the tables' bars.</param>
/// <param name="total">How many tables the call works on, when known.</param>
internal sealed class PhaseProgressBars(Cmdlet cmdlet, Func<int> nextId, string verb, bool several, int? total)
{
    private readonly Dictionary<string, int> _tables = new(StringComparer.Ordinal);
    private int? _parent;
    private int _done;

    private string Activity => $"{verb} tables";

    /// <summary>Writes a table's report on its own bar.</summary>
    public void Update(MigrationProgress progress)
    {
        if (!_tables.TryGetValue(progress.Table, out var id))
        {
            id = nextId();
            _tables[progress.Table] = id;
            WriteParent();
        }

        var status = string.Format(CultureInfo.CurrentCulture, "{0}: {1:N0} rows", progress.Phase ?? "Moving rows", progress.RowsDone);
        var record = new ProgressRecord(id, $"{verb} {progress.Table}", status) { ParentActivityId = _parent ?? -1 };
        if (progress.PartsTotal is > 0 and var parts)
        {
            var done = Math.Clamp(progress.PartsDone, 0, parts);
            record.StatusDescription = string.Format(CultureInfo.CurrentCulture, "{0}: {1:N0} of {2:N0} {3}, {4:N0} rows",
                progress.Phase, done, parts, progress.Parts, progress.RowsDone);
            record.PercentComplete = (int)(done * 100 / parts);
            if (done > 0)
            {
                // The phase's own pace: its parts take about the same time each (blocks, key ranges).
                record.SecondsRemaining = (int)Math.Min(int.MaxValue, progress.Elapsed.TotalSeconds * (parts - done) / done);
            }
        }

        Write(record);
    }

    /// <summary>
    /// Runs the work on one table, then ends its bar; work that throws (a terminating error, a stop)
    /// ends every bar, as no end of the call follows to do it.
    /// </summary>
    public void Track(string table, Action work)
    {
        try
        {
            work();
        }
        catch
        {
            TableDone(table);
            Complete();
            throw;
        }

        TableDone(table);
    }

    /// <summary>Ends a table's bar (done, failed or stopped) and counts it on the call's bar.</summary>
    public void TableDone(string table)
    {
        if (_tables.Remove(table, out var id))
        {
            Write(new ProgressRecord(id, $"{verb} {table}", "Done") { ParentActivityId = _parent ?? -1, RecordType = ProgressRecordType.Completed });
        }

        _done++;
        WriteParent();
    }

    /// <summary>Ends every bar still open: at the end of the call, or when it stops.</summary>
    public void Complete()
    {
        foreach (var (table, id) in _tables)
        {
            Write(new ProgressRecord(id, $"{verb} {table}", "Done") { ParentActivityId = _parent ?? -1, RecordType = ProgressRecordType.Completed });
        }

        _tables.Clear();
        if (_parent is { } parent)
        {
            Write(new ProgressRecord(parent, Activity, "Done") { RecordType = ProgressRecordType.Completed });
            _parent = null;
        }
    }

    private void WriteParent()
    {
        if (!several)
        {
            return;
        }

        _parent ??= nextId();
        var record = new ProgressRecord(_parent.Value, Activity, total is { } known
            ? string.Format(CultureInfo.CurrentCulture, "{0} of {1} tables", _done, known)
            : string.Format(CultureInfo.CurrentCulture, "{0} tables done", _done));
        if (total is > 0 and var all)
        {
            record.PercentComplete = Math.Min(100, _done * 100 / all);
        }

        Write(record);
    }

    private void Write(ProgressRecord record)
    {
        try
        {
            cmdlet.WriteProgress(record);
        }
        catch (PipelineStoppedException)
        {
            // A stopped pipeline takes no more records; its host clears the bars itself.
        }
    }
}
