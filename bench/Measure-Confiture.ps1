<#
.SYNOPSIS
    One Confiture measurement, run by Invoke-Benchmark.ps1 in a process of its own.
.DESCRIPTION
    Imports the module, connects to the two bench databases (the servers named by the
    CONFITURE_TEST_SOURCE and CONFITURE_TEST_TARGET connection strings, with Database replaced),
    sets up postgres_fdw with Enable-ConfitureFdw (not timed), then times only the measured call
    with a Stopwatch:

      -Mode Migrate  one Invoke-ConfitureTableMigration -Strategy <Strategy> -Truncate -Force
                     [-DeferIndexes] [-Parallel N]
      -Mode Verify   Test-ConfitureMigration -Table <Table>, -Repeat times
      -Mode Checksum Test-ConfitureMigration -Table <Table> -Checksum, -Repeat times
      -Mode Sync     Invoke-ConfitureTableMigration -Sync once, then a checksum must match

    It ends with one line on stdout, "BENCH-RESULT <json>": the seconds, the rows, the part of
    them the table's ANALYZE took (Migrate: the result's AnalyzeElapsed, inside the load), and the peak
    resident memory of this process (VmHWM from /proc/self/status), read after everything else.
    The FDW objects are removed before the line is written; the bench databases stay.
    Connection strings are never printed.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $SourceDatabase,
    [Parameter(Mandatory)][string] $TargetDatabase,
    [Parameter(Mandatory)][string] $Table,
    [ValidateSet('Migrate', 'Verify', 'Checksum', 'Sync')][string] $Mode = 'Migrate',
    [ValidateSet('Copy', 'Fdw')][string] $Strategy = 'Copy',
    [switch] $DeferIndexes,
    [ValidateRange(1, 64)][int] $Parallel = 1,
    [ValidateRange(1, 100)][int] $Repeat = 1
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$ProgressPreference = 'SilentlyContinue'

function Get-BenchConnectionString([string] $Variable, [string] $Database) {
    $value = [Environment]::GetEnvironmentVariable($Variable)
    if (-not $value) { throw "$Variable is not set." }
    # DbConnectionStringBuilder is an IDictionary: call the property accessors, not `.ConnectionString =`.
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder.set_ConnectionString($value)
    foreach ($alias in 'Database', 'DB') { [void]$builder.Remove($alias) }
    $builder['Database'] = $Database
    $builder.get_ConnectionString()
}

function Get-PeakResidentMegabytes {
    $line = Get-Content -LiteralPath '/proc/self/status' | Where-Object { $_ -like 'VmHWM:*' } | Select-Object -First 1
    if (-not $line) { return $null }
    [math]::Round([double](($line -split '\s+')[1]) / 1024, 1)
}

$startup = [System.Diagnostics.Stopwatch]::StartNew()
Import-Module $ModulePath -Force

$source = Connect-ConfitureDatabase -ConnectionString (Get-BenchConnectionString 'CONFITURE_TEST_SOURCE' $SourceDatabase) -Name source
$target = Connect-ConfitureDatabase -ConnectionString (Get-BenchConnectionString 'CONFITURE_TEST_TARGET' $TargetDatabase) -Name target
$fdw = @{ Source = $source; Target = $target; Table = @($Table) }
if ($env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET) { $fdw.SourceHostForTarget = $env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET }
if ($env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET) { $fdw.SourcePortForTarget = [int]$env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET }
$migration = Enable-ConfitureFdw @fdw
$setupSeconds = $startup.Elapsed.TotalSeconds

$seconds = [System.Collections.Generic.List[double]]::new()
$rows = 0L
$analyzeSeconds = $null
try {
    if ($Mode -eq 'Migrate') {
        $options = @{ Migration = $migration; SourceTable = $Table; Strategy = $Strategy; Truncate = $true; Force = $true }
        if ($DeferIndexes) { $options.DeferIndexes = $true }
        if ($Parallel -gt 1) { $options.Parallel = $Parallel }
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-ConfitureTableMigration @options
        $clock.Stop()
        if (-not $result) { throw "Invoke-ConfitureTableMigration returned nothing for $Table." }
        $seconds.Add($clock.Elapsed.TotalSeconds)
        $rows = [long]$result.RowsMigrated
        if ($null -ne $result.AnalyzeElapsed) { $analyzeSeconds = $result.AnalyzeElapsed.TotalSeconds }
    }
    elseif ($Mode -eq 'Sync') {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable $Table -Sync -Confirm:$false
        $clock.Stop()
        $seconds.Add($clock.Elapsed.TotalSeconds)
        $rows = [long]$result.RowsMigrated
        $check = Test-ConfitureMigration -Migration $migration -Table $Table -Checksum
        if (-not $check.Match) { throw "After -Sync, $Table does not match by checksum." }
    }
    else {
        for ($i = 0; $i -lt $Repeat; $i++) {
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $check = Test-ConfitureMigration -Migration $migration -Table $Table -Checksum:($Mode -eq 'Checksum')
            $clock.Stop()
            if (-not $check.Match) { throw "Test-ConfitureMigration: $Table does not match (source $($check.SourceCount), target $($check.TargetCount))." }
            $seconds.Add($clock.Elapsed.TotalSeconds)
            $rows = [long]$check.TargetCount
        }
    }
}
finally {
    $cleanup = [System.Diagnostics.Stopwatch]::StartNew()
    $migration | Remove-ConfitureFdw
    $cleanup.Stop()
}

$report = [ordered]@{
    seconds = $seconds.ToArray(); rows = $rows; analyzeSeconds = $analyzeSeconds; peakMB = Get-PeakResidentMegabytes
    setupSeconds = $setupSeconds; cleanupSeconds = $cleanup.Elapsed.TotalSeconds
}
Write-Output ('BENCH-RESULT ' + ($report | ConvertTo-Json -Compress))
