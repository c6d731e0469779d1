<#
    Helpers for the hostile-input, secrets and fault suites (Hostile.Tests.ps1, Secrets.Tests.ps1,
    Faults.Tests.ps1): a fingerprint of everything a database holds, to prove that a refused or
    failed call left both databases exactly as they were; a capture of every stream of a call, to
    prove that no password shows anywhere; and the waits a fault test needs. Builds on
    TestHelpers.psm1 (imported by the test files before this module).
#>

Set-StrictMode -Version Latest

# Every line names its object with to_json(name), so that quotes, tabs and newlines in hostile names
# keep one line per object. A table's content is its row count and the sum of a 64-bit hash of each
# row's text: the same multiset of rows gives the same digest whatever their order, without the sort
# an ordered md5 would need (seconds on the fault tests' millions of rows). query_to_xml runs the
# per-table query without creating a function, which would itself change the catalog.
$script:FingerprintSql = @'
WITH user_namespace AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
), items AS (
    SELECT 'schema ' || to_json(n.nspname)::text || ' owner ' || to_json(pg_get_userbyid(s.nspowner))::text AS item
    FROM user_namespace n JOIN pg_namespace s ON s.oid = n.oid
    UNION ALL
    SELECT 'relation ' || to_json(n.nspname)::text || '.' || to_json(c.relname)::text || ' kind ' || c.relkind::text
           || ' owner ' || to_json(pg_get_userbyid(c.relowner))::text
           || coalesce(' options ' || array_to_json(c.reloptions)::text, '')
    FROM pg_class c JOIN user_namespace n ON n.oid = c.relnamespace
    UNION ALL
    SELECT 'column ' || to_json(n.nspname)::text || '.' || to_json(c.relname)::text || '.' || to_json(a.attname)::text
           || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN user_namespace n ON n.oid = c.relnamespace
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
    UNION ALL
    SELECT 'constraint ' || to_json(n.nspname)::text || '.' || to_json(c.relname)::text || '.' || to_json(k.conname)::text
           || ' ' || pg_get_constraintdef(k.oid)
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN user_namespace n ON n.oid = c.relnamespace
    UNION ALL
    SELECT 'sequence ' || to_json(schemaname)::text || '.' || to_json(sequencename)::text || ' last ' || coalesce(last_value::text, 'none')
    FROM pg_sequences
    UNION ALL
    SELECT 'server ' || to_json(srvname)::text || ' owner ' || to_json(pg_get_userbyid(srvowner))::text
           || ' options ' || coalesce(array_to_json(srvoptions)::text, '[]')
    FROM pg_foreign_server
    UNION ALL
    -- The options of a user mapping hold the source password: only their digest goes into the text.
    SELECT 'user mapping ' || to_json(srvname)::text || ' for ' || to_json(usename)::text
           || ' options md5 ' || md5(coalesce(array_to_json(umoptions)::text, '[]'))
    FROM pg_user_mappings
    UNION ALL
    SELECT 'foreign table ' || to_json(n.nspname)::text || '.' || to_json(c.relname)::text || ' server ' || to_json(s.srvname)::text
           || ' options ' || coalesce(array_to_json(t.ftoptions)::text, '[]')
    FROM pg_foreign_table t JOIN pg_class c ON c.oid = t.ftrelid JOIN user_namespace n ON n.oid = c.relnamespace
    JOIN pg_foreign_server s ON s.oid = t.ftserver
    UNION ALL
    SELECT 'extension ' || to_json(e.extname)::text || ' ' || e.extversion || ' in ' || to_json(e.extnamespace::regnamespace::text)::text
    FROM pg_extension e
    UNION ALL
    SELECT 'grant fdw ' || to_json(w.fdwname)::text || ' ' || coalesce(array_to_json(w.fdwacl::text[])::text, '[]')
    FROM pg_foreign_data_wrapper w
    UNION ALL
    SELECT 'data ' || to_json(n.nspname)::text || '.' || to_json(c.relname)::text || ' digest '
           || coalesce((xpath('/row/digest/text()', query_to_xml(format(
                  'SELECT count(*) || %L || coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) AS digest FROM %I.%I t',
                  ' rows, hash sum ', n.nspname, c.relname), false, true, '')))[1]::text, 'none')
    FROM pg_class c JOIN user_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
)
SELECT item FROM items ORDER BY item COLLATE "C";
'@

function Get-DatabaseFingerprint {
    <#
        Everything the pair's two databases hold, as sorted lines per side: schemas, relations,
        columns, constraints, sequences (with their last value), foreign servers with options, user
        mappings (options as a digest), foreign tables, extensions, the postgres_fdw grants, and a
        digest (row count, hash sum) of each table's content. Read as superuser, so that it sees everything.
    #>
    param([Parameter(Mandatory)] $Pair)
    [pscustomobject]@{
        Source = [string[]]@(Invoke-TestSql -Side Source -Database $Pair.Database -Sql $script:FingerprintSql | ForEach-Object { $_ -join "`t" })
        Target = [string[]]@(Invoke-TestSql -Side Target -Database $Pair.Database -Sql $script:FingerprintSql | ForEach-Object { $_ -join "`t" })
    }
}

function Compare-DatabaseFingerprint {
    <#
        The lines that differ between two fingerprints, as "Source - line" (gone) and "Target + line"
        (new); lines that match one of -Allow (wildcard patterns, matched against the line) are
        expected changes and left out. Empty when nothing else changed.
    #>
    param([Parameter(Mandatory)] $Before, [Parameter(Mandatory)] $After, [string[]] $Allow = @())
    foreach ($side in 'Source', 'Target') {
        $old = [System.Collections.Generic.HashSet[string]]::new([string[]]@($Before.$side), [StringComparer]::Ordinal)
        $new = [System.Collections.Generic.HashSet[string]]::new([string[]]@($After.$side), [StringComparer]::Ordinal)
        foreach ($line in $Before.$side) {
            if (-not $new.Contains($line) -and -not ($Allow | Where-Object { $line -like $_ })) { "$side - $line" }
        }
        foreach ($line in $After.$side) {
            if (-not $old.Contains($line) -and -not ($Allow | Where-Object { $line -like $_ })) { "$side + $line" }
        }
    }
}

function Assert-DatabaseUnchanged {
    <#
        Fails, listing what changed, unless both databases still match the fingerprint -Before.
        -AllowRecord: a successful migration also writes Confiture's documented record on the target
        (schema confiture), in the same transaction as the rows; that change is expected too.
    #>
    param([Parameter(Mandatory)] $Pair, [Parameter(Mandatory)] $Before, [string[]] $Allow = @(), [string] $Because = 'the call must leave both databases as they were', [switch] $AllowRecord)
    if ($AllowRecord) { $Allow += @('schema "confiture" *', 'relation "confiture".*', 'column "confiture".*', 'constraint "confiture".*', 'data "confiture".*') }
    $changes = @(Compare-DatabaseFingerprint -Before $Before -After (Get-DatabaseFingerprint -Pair $Pair) -Allow $Allow)
    if ($changes.Count -gt 0) {
        throw "Expected no change to the databases, because $Because, but:`n  $($changes -join "`n  ")"
    }
}

function ConvertTo-FingerprintName {
    <# A name as the fingerprint writes it (JSON string), to build -Allow patterns: schema.table. #>
    param([Parameter(Mandatory)][string] $Schema, [Parameter(Mandatory)][string] $Name)
    $escape = { param($text) [System.Management.Automation.WildcardPattern]::Escape(($text | ConvertTo-Json -Compress -EscapeHandling Default)) }
    (& $escape $Schema) + '.' + (& $escape $Name)
}

function Get-ErrorId {
    <# The ErrorId part of an error record's FullyQualifiedErrorId (before the comma). #>
    param([Parameter(Mandatory)] $ErrorRecord)
    ($ErrorRecord.FullyQualifiedErrorId -split ',')[0]
}

function Test-StreamRecord {
    <# Whether a record is a verbose, warning, debug or information record (not an object or an error). #>
    param([AllowNull()] $Record)
    $Record -is [System.Management.Automation.InformationalRecord] -or $Record -is [System.Management.Automation.InformationRecord]
}

function Get-RecordText {
    <#
        Every text a record can show or be logged as: ToString(), its properties as listed by
        Format-List, and for an ErrorRecord the message, details, recommended action, target object
        and the exception with all its inner exceptions (Exception.ToString() and each one's
        properties). Its JSON (ConvertTo-Json -Depth 5, as runbooks log objects) is included for
        emitted objects and error records, and for verbose/warning/debug/information records too
        with -JsonOfStreamRecords (their JSON carries the command's InvocationInfo). A record that
        cannot be serialized says so in the text. Returns strings.
    #>
    param([Parameter(Mandatory)][AllowNull()] $Record, [int] $Depth = 5, [switch] $JsonOfStreamRecords)
    if ($null -eq $Record) { return }
    "$Record"
    try { $Record | Format-List * -Force | Out-String -Width 4096 } catch { "FORMAT-LIST FAILED: $($_.Exception.Message)" }
    if ($Record -is [System.Management.Automation.InformationRecord]) { "$($Record.MessageData)" }
    if ($Record -is [System.Management.Automation.InformationalRecord]) { $Record.Message }
    if ($Record -is [System.Management.Automation.ErrorRecord]) {
        $Record.Exception.ToString()
        for ($inner = $Record.Exception; $null -ne $inner; $inner = $inner.InnerException) {
            $inner.Message
            foreach ($property in $inner.PSObject.Properties) {
                try { "$($property.Name)=$($property.Value)" } catch { }
            }
            if ($inner -is [System.AggregateException]) { $inner.InnerExceptions | ForEach-Object { $_.ToString() } }
        }
        if ($Record.ErrorDetails) { $Record.ErrorDetails.Message; $Record.ErrorDetails.RecommendedAction }
        "$($Record.TargetObject)"
        if ($null -ne $Record.TargetObject) { $Record.TargetObject | Format-List * -Force | Out-String -Width 4096 }
        "$($Record.CategoryInfo)"
    }
    if ($JsonOfStreamRecords -or -not (Test-StreamRecord $Record)) {
        try {
            $Record | ConvertTo-Json -Depth $Depth -WarningAction SilentlyContinue -ErrorAction Stop
        }
        catch {
            "CONVERTTO-JSON FAILED ($($Record.GetType().Name)): $($_.Exception.Message)"
        }
    }
}

function Find-Secret {
    <#
        The places where a secret shows up in the records: "<record type> #<index>: ..." for every
        form of every secret (as is, JSON-escaped, percent-encoded, SQL-escaped) found in any text
        of any record (Get-RecordText). Empty when no secret shows.
    #>
    param([Parameter(Mandatory)][AllowEmptyCollection()][object[]] $Record, [Parameter(Mandatory)][string[]] $Secret, [switch] $JsonOfStreamRecords)
    $forms = @($Secret | ForEach-Object { Get-SecretForm $_ } | Select-Object -Unique)
    for ($i = 0; $i -lt $Record.Count; $i++) {
        $text = (@(Get-RecordText -Record $Record[$i] -JsonOfStreamRecords:$JsonOfStreamRecords) -join "`n")
        foreach ($form in $forms) {
            $at = $text.IndexOf($form, [StringComparison]::Ordinal)
            if ($at -ge 0) {
                $context = $text.Substring([Math]::Max(0, $at - 80), [Math]::Min(80, $at)).Replace("`n", ' ')
                "$($Record[$i].GetType().Name) #${i}: found the secret ($($form.Length) chars) after '...$context'"
            }
        }
    }
}

function Find-JsonFailure {
    <# The records that ConvertTo-Json -Depth 5 cannot serialize (runbooks log records that way). #>
    param([Parameter(Mandatory)][AllowEmptyCollection()][object[]] $Record, [int] $Depth = 5)
    for ($i = 0; $i -lt $Record.Count; $i++) {
        try { $null = $Record[$i] | ConvertTo-Json -Depth $Depth -WarningAction SilentlyContinue -ErrorAction Stop }
        catch { "$($Record[$i].GetType().Name) #${i}: $($_.Exception.Message)" }
    }
}

function Test-MigrationRunning {
    <#
        Whether a Confiture session is loading rows into the pair's target database right now: an
        active COPY ... FROM STDIN or INSERT from application_name 'Confiture' in pg_stat_activity.
    #>
    param([Parameter(Mandatory)] $Pair)
    $count = Get-TestSqlValue -Side Target -Database postgres -Sql @"
SELECT count(*) FROM pg_stat_activity
WHERE datname = $(ConvertTo-SqlLiteral $Pair.Database) AND application_name = 'Confiture' AND state = 'active'
  AND (query ~* '^\s*COPY\s.*\sFROM\s+STDIN' OR query ~* '^\s*INSERT\s')
"@
    [int]$count -gt 0
}

function Test-MigrationInProgress {
    <#
        Whether any Confiture session on the pair's target database is inside a transaction (active,
        or idle in a transaction): false once a killed or stopped load is over and rolled back.
        Idle pooled connections do not count.
    #>
    param([Parameter(Mandatory)] $Pair)
    $count = Get-TestSqlValue -Side Target -Database postgres -Sql @"
SELECT count(*) FROM pg_stat_activity
WHERE datname = $(ConvertTo-SqlLiteral $Pair.Database) AND application_name = 'Confiture' AND state <> 'idle' AND pid <> pg_backend_pid()
"@
    [int]$count -gt 0
}

function Test-SourceSnapshotTaken {
    <#
        Whether a migration holds its snapshot of the pair's source database: a session of Confiture
        (COPY) or of postgres_fdw (the foreign scan) with a transaction snapshot (backend_xmin) that
        is reading rows. Rows written after this are not in that snapshot.
    #>
    param([Parameter(Mandatory)] $Pair)
    $count = Get-TestSqlValue -Side Source -Database postgres -Sql @"
SELECT count(*) FROM pg_stat_activity
WHERE datname = $(ConvertTo-SqlLiteral $Pair.Database) AND application_name IN ('Confiture', 'postgres_fdw')
  AND backend_xmin IS NOT NULL AND (query ~* '^\s*COPY\s' OR query ~* '^\s*(FETCH|DECLARE)\s')
"@
    [int]$count -gt 0
}

function Start-ChildPwsh {
    <#
        Starts a script file in a new PowerShell process (the same PowerShell as this one, with the
        same environment) and returns the process with its standard output and error redirected
        (read them with .StandardOutput.ReadToEnd() after it ends), for tests that kill it.
    #>
    param([Parameter(Mandatory)][string] $Path, [string[]] $ArgumentList = @())
    $info = [System.Diagnostics.ProcessStartInfo]::new([Environment]::ProcessPath)
    if ([IO.Path]::GetFileNameWithoutExtension([Environment]::ProcessPath) -eq 'dotnet') { $info.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
    foreach ($argument in @('-NoProfile', '-NonInteractive', '-File', $Path) + $ArgumentList) { $info.ArgumentList.Add($argument) }
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.UseShellExecute = $false
    [System.Diagnostics.Process]::Start($info)
}

Export-ModuleMember -Function Get-DatabaseFingerprint, Compare-DatabaseFingerprint, Assert-DatabaseUnchanged, ConvertTo-FingerprintName, Get-ErrorId,
    Test-StreamRecord, Get-RecordText, Find-Secret, Find-JsonFailure, Test-MigrationRunning, Test-MigrationInProgress, Test-SourceSnapshotTaken, Start-ChildPwsh
