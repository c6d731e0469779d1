<#
.SYNOPSIS
    Times a whole database of 22 tables moved by Confiture's run, pgcopydb clone and psql pipes, and
    writes the "Whole database" section of bench/RESULTS.md.
.DESCRIPTION
    Runs on the two servers named by CONFITURE_TEST_SOURCE and CONFITURE_TEST_TARGET, as
    `build.ps1 WholeDatabase` starts them. It creates confiture_wdb_source (the shop of
    WholeDatabase.psm1: about -Rows rows in all, primary keys, foreign keys, secondary indexes,
    generated on the source with generate_series), confiture_wdb_target (the same tables, empty)
    and, for pgcopydb, an empty confiture_wdb_pgcopydb. Then, once each, in this order:

      psql binary pipes     one `psql COPY TO STDOUT (binary) | psql -1 COPY FROM STDIN (binary)`
                            per table, parents first, one after another, keys in place
      Confiture run         one Invoke-ConfitureTableMigration of every table -Truncate -Force, in a
                            fresh process (Measure-Confiture.ps1 -Mode Run), with -ThrottleLimit 1
                            and 2 (when the cmdlet has it), each with and without -DeferIndexes
      pgcopydb clone        schema, data, indexes and constraints into the empty database,
                            --table-jobs 2 --index-jobs 2

    Before each method (and the planner) the target is emptied, both servers checkpoint and the operating system writes its dirty pages out (not timed); after it,
    every table's row count must equal the source's and every key and index must be valid. It also
    runs Get-ConfitureStrategy over every table (the planner's Copy estimates against the times of
    the sequential run) and reports what starting costs in a fresh process (Import-Module, the two
    connections, Enable-ConfitureFdw). The databases are dropped at the end.
.PARAMETER ModulePath
    The Confiture module manifest to measure.
.PARAMETER Rows
    Rows in all tables together.
.PARAMETER ResultsPath
    The report whose "Whole database" section this rewrites.
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 WholeDatabase -Rows 500000
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [ValidateRange(10000, 1000000000)][long] $Rows = 5000000,
    [string] $ResultsPath = (Join-Path $PSScriptRoot 'RESULTS.md')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$ProgressPreference = 'SilentlyContinue'

Import-Module (Join-Path $PSScriptRoot 'BenchTools.psm1') -Force
Import-Module (Join-Path $PSScriptRoot 'WholeDatabase.psm1') -Force

$script:Clock = [System.Diagnostics.Stopwatch]::StartNew()
$script:ChildScript = Join-Path $PSScriptRoot 'Measure-Confiture.ps1'
$script:ModuleManifest = (Resolve-Path -LiteralPath $ModulePath).ProviderPath

function Initialize-Shop($Source, $Target, $Tables) {
    foreach ($server in $Source, $Target) {
        Remove-BenchDatabase $server
        Invoke-Psql $server "CREATE DATABASE $($server.Database) TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" -Database postgres | Out-Null
    }
    foreach ($table in $Tables) {
        Write-BenchLog "Loading $($table.Name) on the source: $(Format-Number $table.Rows) rows"
        # Keys after the load (faster), as pg_restore does; the foreign keys once the parents have theirs.
        Invoke-Psql $Source "$($table.CreateSql)`n$($table.LoadSql)`n$($table.KeySql)" | Out-Null
        Invoke-Psql $Target "$($table.CreateSql)`n$($table.KeySql)" | Out-Null
    }
    foreach ($server in $Source, $Target) {
        Invoke-Psql $server (($Tables | ForEach-Object { $_.ForeignSql } | Where-Object { $_ }) -join "`n") | Out-Null
    }
    Invoke-Psql $Source 'VACUUM (FREEZE, ANALYZE)' | Out-Null
    $sizes = Invoke-Psql $Source "SELECT c.relname, pg_table_size(c.oid) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
    $bytes = @{}
    foreach ($line in $sizes) { $name, $size = $line -split "`t"; $bytes[$name] = [long]$size }
    foreach ($table in $Tables) { $table | Add-Member -NotePropertyName Bytes -NotePropertyValue $bytes[$table.Name] -Force }
}

function Get-CountsSql($Tables) {
    ($Tables | ForEach-Object { "SELECT '$($_.Name)', count(*) FROM public.$($_.Name)" }) -join "`nUNION ALL "
}

function Assert-Copied($Server, $Tables, [string] $Method) {
    <# Every table holds the source's rows, and every key, index and foreign key is in place and valid. #>
    foreach ($line in Invoke-Psql $Server (Get-CountsSql $Tables)) {
        $name, $count = $line -split "`t"
        $expected = ($Tables | Where-Object Name -EQ $name).Rows
        if ([long]$count -ne $expected) { throw "WRONG RESULT: after '$Method' $name holds $count rows instead of $expected." }
    }
    $indexes = [long](Invoke-Psql $Server "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace AND i.indisvalid")
    $foreign = [long](Invoke-Psql $Server "SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype = 'f' AND convalidated")
    $wantIndexes = ($Tables | Measure-Object Indexes -Sum).Sum
    $wantForeign = ($Tables | Measure-Object ForeignKeys -Sum).Sum
    if ($indexes -ne $wantIndexes -or $foreign -ne $wantForeign) {
        throw "WRONG RESULT: after '$Method' the target has $indexes valid indexes (of $wantIndexes) and $foreign valid foreign keys (of $wantForeign)."
    }
}

function Reset-Shop($Source, $Target, $Tables) {
    Invoke-Psql $Target "TRUNCATE $(($Tables | ForEach-Object { "public.$($_.Name)" }) -join ', '); CHECKPOINT;" | Out-Null
    Invoke-Psql $Source 'CHECKPOINT;' | Out-Null
    Wait-DiskQuiet
}

function Measure-Pipes($Source, $Target, $Tables) {
    $pipeline = @'
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "COPY $3 TO STDOUT (FORMAT binary)" |
    psql -X -q -v ON_ERROR_STOP=1 -1 -d "$2" -c "COPY $3 FROM STDIN (FORMAT binary)"
'@
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    foreach ($table in $Tables) {
        Invoke-Checked bash @('-c', $pipeline, 'bench-pipe', (Get-LibpqDsn $Source), (Get-LibpqDsn $Target), "public.$($table.Name)") -Description "psql binary pipe of $($table.Name)" | Out-Null
    }
    $clock.Elapsed.TotalSeconds
}

function Measure-PgcopydbClone($Source, $Clone, [string] $WorkDirectory) {
    Remove-BenchDatabase $Clone
    Invoke-Psql $Clone "CREATE DATABASE $($Clone.Database) TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" -Database postgres | Out-Null
    Invoke-Psql $Clone 'CHECKPOINT;' | Out-Null
    Invoke-Psql $Source 'CHECKPOINT;' | Out-Null
    Wait-DiskQuiet
    $directory = Join-Path $WorkDirectory ('pgcopydb-' + [guid]::NewGuid().ToString('N'))
    $arguments = @('clone', '--source', (Get-PostgresUri $Source), '--target', (Get-PostgresUri $Clone), '--table-jobs', '2', '--index-jobs', '2', '--no-owner')
    Invoke-TimedPgcopydb -Arguments $arguments -Directory $directory -Description 'pgcopydb clone'
}

function Invoke-Child([hashtable] $Parameters) {
    <# Measure-Confiture.ps1 in a fresh process; its report, with the process's wall time. #>
    $pwsh = @(Get-PwshCommand)
    $arguments = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $script:ChildScript,
        '-ModulePath', $script:ModuleManifest, '-SourceDatabase', $script:Source.Database, '-TargetDatabase', $script:Target.Database)
    foreach ($name in $Parameters.Keys) {
        $value = $Parameters[$name]
        if ($value -is [bool]) { if ($value) { $arguments += "-$name" } } else { $arguments += @("-$name", [string]$value) }
    }
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $output = @(& $pwsh[0] @arguments | ForEach-Object { "$_" })
    $wall = $clock.Elapsed.TotalSeconds
    if ($LASTEXITCODE -ne 0) { throw "Measure-Confiture.ps1 -Mode $($Parameters.Mode) failed with exit code $LASTEXITCODE$([Environment]::NewLine)$($output -join [Environment]::NewLine)" }
    $line = $output | Where-Object { $_.StartsWith('BENCH-RESULT ') } | Select-Object -Last 1
    if (-not $line) { throw "Measure-Confiture.ps1 reported no result:$([Environment]::NewLine)$($output -join [Environment]::NewLine)" }
    $output | Where-Object { -not $_.StartsWith('BENCH-RESULT ') -and $_.Trim() } | ForEach-Object { Write-Host "    child: $_" }
    $report = $line.Substring('BENCH-RESULT '.Length) | ConvertFrom-Json
    $report | Add-Member -NotePropertyName wallSeconds -NotePropertyValue $wall -PassThru
}

function Format-Percent([double] $Value) { '{0}{1} %' -f $(if ($Value -gt 0) { '+' } else { '' }), (Format-Number ($Value * 100) 0) }

# --- The benchmark -----------------------------------------------------------------------------------

$ResultsPath = [System.IO.Path]::GetFullPath($ResultsPath)
$script:Source = Get-BenchServer 'CONFITURE_TEST_SOURCE' 'source' 'confiture_wdb_source'
$script:Target = Get-BenchServer 'CONFITURE_TEST_TARGET' 'target' 'confiture_wdb_target'
$clone = Get-BenchServer 'CONFITURE_TEST_TARGET' 'target' 'confiture_wdb_pgcopydb'
$tables = @(Get-WholeDatabaseTables -Rows $Rows)
$names = ($tables | ForEach-Object { $_.Name }) -join ','
$workDirectory = New-Item -ItemType Directory -Path (Join-Path ([System.IO.Path]::GetTempPath()) ('confiture-wdb-' + [guid]::NewGuid().ToString('N')))
$savedEnvironment = @{}
$environment = @{
    PGPASSFILE = $null; PGPASSWORD = $null; PGCLIENTENCODING = 'UTF8'; PGTZ = 'UTC'; PGAPPNAME = 'confiture-bench'
    PGOPTIONS = '-c client_min_messages=warning'; PGSSLMODE = $null; PGDATABASE = $null; PGSERVICE = $null
}
$totalRows = ($tables | Measure-Object Rows -Sum).Sum
Write-BenchLog "Whole-database benchmark: $($tables.Count) tables, $(Format-Number $totalRows) rows"
try {
    foreach ($name in @($environment.Keys)) { $savedEnvironment[$name] = [Environment]::GetEnvironmentVariable($name) }
    $environment.PGPASSFILE = New-PgPassFile $workDirectory.FullName @($script:Source, $script:Target)
    foreach ($name in $environment.Keys) { Set-EnvironmentVariable $name $environment[$name] }

    Install-PgcopydbIfMissing
    Initialize-Shop $script:Source $script:Target $tables
    $totalMB = ($tables | Measure-Object Bytes -Sum).Sum / 1MB
    Write-BenchLog "Data loaded: $(Format-Number $totalMB 0) MB on the source"

    Reset-Shop $script:Source $script:Target $tables
    $plan = Invoke-Child @{ Mode = 'Plan'; Table = $names }
    Write-BenchLog "Get-ConfitureStrategy over $($tables.Count) tables: $(Format-Number @($plan.seconds)[0] 2) s"
    $starts = [System.Collections.Generic.List[object]]::new()
    $starts.Add($plan)

    $results = [System.Collections.Generic.List[object]]::new()
    Reset-Shop $script:Source $script:Target $tables
    $seconds = Measure-Pipes $script:Source $script:Target $tables
    Assert-Copied $script:Target $tables 'psql binary pipes'
    $results.Add([pscustomobject]@{ Key = 'pipe'; Name = 'psql binary pipes, one table after another'; Seconds = $seconds; Measured = $true; Detail = $null })
    Write-BenchLog "psql binary pipes: $(Format-Number $seconds 2) s"

    $throttled = $null
    foreach ($throttle in 1, 2) {
        foreach ($defer in $false, $true) {
            $name = "Confiture run -ThrottleLimit $throttle$(if ($defer) { ' -DeferIndexes' })"
            if ($throttle -gt 1 -and $throttled -eq $false) {
                $results.Add([pscustomobject]@{ Key = "run$throttle$defer"; Name = $name; Seconds = [double]::NaN; Measured = $false; Detail = $null })
                continue
            }
            Reset-Shop $script:Source $script:Target $tables
            $report = Invoke-Child @{ Mode = 'Run'; Table = $names; ThrottleLimit = $throttle; DeferIndexes = $defer }
            Assert-Copied $script:Target $tables $name
            if ([long]$report.rows -ne $totalRows) { throw "$name reported $($report.rows) rows; the source holds $totalRows." }
            $throttled = [bool]$report.throttleApplied
            $starts.Add($report)
            $results.Add([pscustomobject]@{ Key = "run$throttle$defer"; Name = $name; Seconds = [double]@($report.seconds)[0]; Measured = $true; Detail = $report.detail; Throttled = $throttled })
            Write-BenchLog "${name}: $(Format-Number @($report.seconds)[0] 2) s$(if (-not $throttled) { ' (no -ThrottleLimit in this module: one table at a time)' })"
        }
    }

    $seconds = Measure-PgcopydbClone $script:Source $clone $workDirectory.FullName
    Assert-Copied $clone $tables 'pgcopydb clone'
    $results.Add([pscustomobject]@{ Key = 'pgcopydb'; Name = 'pgcopydb clone --table-jobs 2 --index-jobs 2'; Seconds = $seconds; Measured = $true; Detail = $null })
    Write-BenchLog "pgcopydb clone: $(Format-Number $seconds 2) s"

    # --- The report --------------------------------------------------------------------------------
    $byKey = @{}
    foreach ($r in $results) { $byKey[$r.Key] = $r }
    $measuredRuns = @($results | Where-Object { $_.Key -like 'run*' -and $_.Measured })
    $best = $measuredRuns | Sort-Object Seconds | Select-Object -First 1
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add('## Whole database (`build.ps1 WholeDatabase`)')
    $lines.Add('')
    $lines.Add("Run on $((Get-Date).ToUniversalTime().ToString('yyyy-MM-dd HH:mm', [cultureinfo]::InvariantCulture)) UTC with ``$(Get-CommandLine)`` (bench/Invoke-WholeDatabaseBenchmark.ps1 -Rows $Rows); $(Format-Number $script:Clock.Elapsed.TotalMinutes 1) minutes in all, data load included. Each method ran once, in the order below, on the same servers as the tables above.")
    $lines.Add('')
    $lines.Add("The database: $($tables.Count) tables of an online shop (bench/WholeDatabase.psm1), $(Format-Number $totalRows) rows and $(Format-Number $totalMB 0) MB on the source, $(($tables | Measure-Object Indexes -Sum).Sum) indexes (primary keys, unique and plain) and $(($tables | Measure-Object ForeignKeys -Sum).Sum) foreign keys, the same on the target, which starts empty. Before each method (and the planner) the target is emptied, both servers checkpoint and the operating system writes its dirty pages out (not timed); after it every table's row count is checked against the source and every index and foreign key must be valid.")
    $lines.Add('')
    $lines.Add('| method | seconds | rows/s | psql pipes / method | pgcopydb / method |')
    $lines.Add('|---|---:|---:|---:|---:|')
    foreach ($r in $results) {
        if (-not $r.Measured) { $lines.Add("| $($r.Name) | not measured: this module has no -ThrottleLimit | | | |"); continue }
        $lines.Add("| $($r.Name) | $(Format-Number $r.Seconds 2) | $(Format-Number ($totalRows / $r.Seconds) 0) | $(Format-Number (Get-Ratio $byKey['pipe'].Seconds $r.Seconds) 2) | $(Format-Number (Get-Ratio $byKey['pgcopydb'].Seconds $r.Seconds) 2) |")
    }
    $lines.Add('')
    $lines.Add('- psql binary pipes: for each table, parents first, `psql -c "COPY t TO STDOUT (FORMAT binary)" | psql -1 -c "COPY t FROM STDIN (FORMAT binary)"` into the target with its keys and indexes in place; timed around all of them.')
    $lines.Add('- Confiture run: one `Invoke-ConfitureTableMigration <every table> -Truncate -Force [-ThrottleLimit N] [-DeferIndexes]` in a fresh process (Measure-Confiture.ps1 -Mode Run), only the call timed; several tables make one run under one source snapshot, every table by Copy.')
    if (@($measuredRuns | Where-Object { -not $_.Throttled }).Count) {
        $lines.Add('- -ThrottleLimit: the module measured has no such parameter yet, so the runs above moved one table at a time and the -ThrottleLimit 2 rows were not measured.')
    }
    $lines.Add('- pgcopydb clone: `pgcopydb clone --table-jobs 2 --index-jobs 2 --no-owner` into an empty database on the target server: it creates the tables, copies the rows (as text, with `PGDATESTYLE=''ISO, YMD''` and `PGTZ=UTC`), builds the indexes and adds the constraints, and vacuums; timed around the process.')
    $lines.Add('')
    $lines.Add("Best Confiture run ($($best.Name)) against the others: $(Format-Number (Get-Ratio $byKey['pgcopydb'].Seconds $best.Seconds) 2)x pgcopydb clone (goal 1.2), $(Format-Number (Get-Ratio $byKey['pipe'].Seconds $best.Seconds) 2)x the sequential psql pipes (goal 1.0).")
    $lines.Add('')

    $sequential = $byKey['run1False']
    $lines.Add('### The planner against the sequential run')
    $lines.Add('')
    $planned = @{}
    foreach ($p in @($plan.detail)) { $planned[$p.table] = $p }
    $estimateTotal = (@($plan.detail) | Measure-Object copy -Sum).Sum
    $lines.Add("Get-ConfitureStrategy over the $($tables.Count) tables took $(Format-Number @($plan.seconds)[0] 2) s. Its Copy estimates (a run moves every table by Copy) against each table's time in the run with -ThrottleLimit 1 and no -DeferIndexes; the run's total is the sum of the estimates against the whole call.")
    $lines.Add('')
    $lines.Add('| table | rows | MB | advised | Copy estimate s | measured s | error |')
    $lines.Add('|---|---:|---:|---|---:|---:|---:|')
    foreach ($d in @($sequential.Detail)) {
        $p = $planned[$d.table]
        $t = $tables | Where-Object Name -EQ $d.table
        $lines.Add("| $($d.table) | $(Format-Number $d.rows) | $(Format-Number ($t.Bytes / 1MB) 1) | $($p.strategy) | $(Format-Number $p.copy 3) | $(Format-Number $d.seconds 3) | $(Format-Percent (($p.copy - $d.seconds) / $d.seconds)) |")
    }
    $lines.Add("| **run total** | $(Format-Number $totalRows) | $(Format-Number $totalMB 0) | | $(Format-Number $estimateTotal 2) | $(Format-Number $sequential.Seconds 2) | $(Format-Percent (($estimateTotal - $sequential.Seconds) / $sequential.Seconds)) |")
    $lines.Add('')

    $lines.Add('### The cost of starting')
    $lines.Add('')
    $lines.Add("In each fresh process above ($($starts.Count) of them), before the measured call: medians, in seconds.")
    $lines.Add('')
    $lines.Add('| Import-Module | two Connect-ConfitureDatabase | Enable-ConfitureFdw (22 tables) | all three | process wall time less the measured call |')
    $lines.Add('|---:|---:|---:|---:|---:|')
    $import = Get-Median ($starts | ForEach-Object { [double]$_.importSeconds })
    $connect = Get-Median ($starts | ForEach-Object { [double]$_.connectSeconds })
    $enable = Get-Median ($starts | ForEach-Object { [double]$_.enableSeconds })
    $setup = Get-Median ($starts | ForEach-Object { [double]$_.setupSeconds })
    $overhead = Get-Median ($starts | ForEach-Object { [double]$_.wallSeconds - [double]@($_.seconds)[0] })
    $lines.Add("| $(Format-Number $import 2) | $(Format-Number $connect 2) | $(Format-Number $enable 2) | $(Format-Number $setup 2) | $(Format-Number $overhead 2) |")
    $lines.Add('')
    $lines.Add('The wall time also holds starting PowerShell itself and Remove-ConfitureFdw at the end.')

    Set-ResultsSection -Path $ResultsPath -Name 'whole-database' -Lines $lines
    Write-BenchLog "Whole-database section written to $ResultsPath"
}
finally {
    foreach ($server in $script:Source, $script:Target, $clone) {
        try { Remove-BenchDatabase $server }
        catch { Write-Warning "Could not drop $($server.Database) on the $($server.Side) server: $($_.Exception.Message)" }
    }
    foreach ($name in $savedEnvironment.Keys) { Set-EnvironmentVariable $name $savedEnvironment[$name] }
    Remove-Item -LiteralPath $workDirectory.FullName -Recurse -Force -ErrorAction SilentlyContinue
    Write-BenchLog 'Done'
}
