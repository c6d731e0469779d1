using System.Management.Automation;
using System.Text;
using Confiture.Core;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Reporting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>The forms a report can take.</summary>
public enum ReportFormat
{
    /// <summary>One self-contained HTML page.</summary>
    Html,

    /// <summary>Markdown.</summary>
    Markdown,

    /// <summary>JSON.</summary>
    Json,
}

/// <summary>
/// <para type="synopsis">Writes a run's evidence (what moved, with which map, how long, verified how) to an HTML, Markdown or JSON file.</para>
/// </summary>
[Cmdlet(VerbsData.Export, "ConfitureReport", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FileInfo))]
public sealed class ExportConfitureReportCommand : ConfitureCmdlet
{
    private readonly List<object> _objects = [];
    private ReportFormat _format;
    private string _path = "";

    /// <summary>The report file: .html (or .htm), .md or .json; the extension chooses the form unless -Format.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The results of Invoke-ConfitureTableMigration and the verifications of Test-ConfitureMigration, from the pipeline.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PSObject InputObject { get; set; } = null!;

    /// <summary>The form, when the extension does not say it.</summary>
    [Parameter]
    public ReportFormat? Format { get; set; }

    /// <summary>The report's heading.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Title { get; set; } = "Confiture migration report";

    /// <summary>Refuses to replace an existing file.</summary>
    [Parameter]
    public SwitchParameter NoClobber { get; set; }

    /// <inheritdoc />
    protected override void BeginProcessing() => Guard(() =>
    {
        _path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        var extension = System.IO.Path.GetExtension(_path).ToLowerInvariant();
        _format = Format ?? extension switch
        {
            ".html" or ".htm" => ReportFormat.Html,
            ".md" or ".markdown" => ReportFormat.Markdown,
            ".json" => ReportFormat.Json,
            _ => throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"The report form cannot be told from the extension \"{extension}\" of {Path}.", Path, "Name the file .html, .md or .json, or pass -Format Html, Markdown or Json."),
        };
        if (NoClobber && File.Exists(_path))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, $"The file {_path} exists and -NoClobber keeps it.", _path,
                "Pass another -Path, or leave -NoClobber out to replace the file.");
        }
    }, target: Path, terminating: true);

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        switch (InputObject.BaseObject)
        {
            case ConfitureTableMigrationResult or ConfitureVerification:
                _objects.Add(InputObject.BaseObject);
                break;
            default:
                // Never silent: what the report leaves out is named.
                WriteError(ErrorRecords.InvalidArgument(
                    $"Export-ConfitureReport takes migration results and verifications; a {InputObject.BaseObject.GetType().Name} is not part of the report.",
                    InputObject, "Pipe the output of Invoke-ConfitureTableMigration and Test-ConfitureMigration."));
                break;
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        var report = RunReport.From(Title, _objects, DateTimeOffset.UtcNow);
        if (report.Tables.Count == 0)
        {
            ThrowTerminatingError(ErrorRecords.InvalidArgument("There is nothing to report: no migration result and no verification came in.", Path,
                "Pipe the output of Invoke-ConfitureTableMigration and Test-ConfitureMigration into Export-ConfitureReport."));
        }

        var text = _format switch
        {
            ReportFormat.Markdown => MarkdownReport.Render(report),
            ReportFormat.Json => JsonReport.Render(report),
            _ => HtmlReport.Render(report),
        };
        if (!Confirmation.ShouldProcess(this, $"Write the {_format} report of {report.Tables.Count} table(s) to {_path}.", $"Write {_path}?", "Export-ConfitureReport",
                false, "Add -Confirm:$false to write the report without a question.", _path))
        {
            return;
        }

        Guard(() =>
        {
            var directory = System.IO.Path.GetDirectoryName(_path);
            if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
            {
                throw new ConfitureException(ConfitureErrorKind.InvalidArgument, $"The folder {directory} does not exist.", directory, "Create the folder first, or pass another -Path.");
            }

            // Written beside, then moved over: a reader never sees half a report.
            var temporary = _path + ".tmp";
            File.WriteAllText(temporary, text, new UTF8Encoding(false));
            File.Move(temporary, _path, overwrite: true);
            WriteObject(new FileInfo(_path));
        }, target: _path, terminating: true);
    }
}
